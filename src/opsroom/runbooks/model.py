"""What a runbook file says, once parsed: inputs, an alert matcher, and ordered steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from opsroom.core import ArgSpec
from opsroom.runbooks.when import Expr

StepKind = Literal["manual", "command"]
OnFail = Literal["stop", "continue"]


@dataclass(frozen=True)
class Step:
    id: str
    kind: StepKind
    text: str  # the checklist line, or the command template ("rollback {service} {version} env={env}")
    line: int  # 1-based line in the file
    auto: bool = False  # run as soon as it is reached (read-only commands only)
    on_fail: OnFail = "stop"
    when: Expr | None = None
    when_text: str = ""


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    path: Path
    steps: tuple[Step, ...]
    inputs: tuple[ArgSpec, ...] = ()
    examples: dict[str, str] = field(default_factory=dict)  # input name -> example value for checks
    applies_to: dict[str, str] = field(default_factory=dict)  # alert labels that must match (exact)
    owner: str = ""
    schedule: str = ""  # cron; routine jobs run as the configured service principal
    digest: str = ""  # sha256 of the file: a run pins the exact text it followed
    summary: str = ""  # the prose before the first step, for `/runbook show`

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def input(self, name: str) -> ArgSpec | None:
        return next((a for a in self.inputs if a.name == name), None)

    def matches(self, labels: dict[str, str]) -> bool:
        """Does an alert with these labels call for this runbook?"""
        return bool(self.applies_to) and all(labels.get(k) == v for k, v in self.applies_to.items())
