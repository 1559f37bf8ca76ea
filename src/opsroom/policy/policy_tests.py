"""Policy test files: YAML cases (USER types TEXT in CHANNEL → allow, deny, frozen…) that a
team keeps next to its config and runs in CI with ``opsroom policy test``.

This module only reads the cases and compares; the verdicts come from the command pipeline
run without writing (``opsroom.engine.check``), the same steps chat goes through.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from opsroom.config.base import Section
from opsroom.core import ConfigError

UTC = dt.UTC


# -- policy test files --------------------------------------------------------------------------
class PolicyCase(Section):
    name: str = ""
    user: str
    channel: str = "#ops"
    platform: str = "shell"
    command: str = Field(min_length=1)
    expect: Literal["allow", "deny", "frozen", "limited", "locked", "error"]
    needs: list[Literal["approval", "confirmation"]] | None = None  # exact; None = not checked
    rules: list[str] = []  # these rule ids must be among the deciding ones
    approvers: list[str] | None = None  # exactly who could approve (when it needs approval)
    at: dt.datetime | None = None  # evaluate at this time (naive = UTC)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class PolicyTestFile(Section):
    cases: list[PolicyCase] = Field(min_length=1)


@dataclass
class CaseResult:
    case: PolicyCase
    verdict: Any  # engine.check.Verdict
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return self.case.name or f"{self.case.user}: {self.case.command}"


def load_cases(path: Path) -> PolicyTestFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if isinstance(data, list):
        data = {"cases": data}
    try:
        return PolicyTestFile.model_validate(data)
    except ValidationError as err:
        problems = "\n".join(f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(problems) from None


def problems_of(case: PolicyCase, verdict: Any) -> list[str]:
    """How ``verdict`` (an ``engine.check.Verdict``) differs from what ``case`` expects."""
    problems: list[str] = []
    if verdict.outcome != case.expect:
        why = verdict.error or verdict.refusal or verdict.stop_text or verdict.reason
        problems.append(f"expected {case.expect}, got {verdict.outcome} ({why})")
    if case.needs is not None and sorted(set(case.needs)) != verdict.need_kinds:
        problems.append(f"expected needs {sorted(set(case.needs)) or '[]'}, got {verdict.need_kinds or '[]'}")
    missing = [r for r in case.rules if r not in verdict.rule_ids]
    if missing:
        problems.append(f"rules {', '.join(missing)} did not decide (deciding: {', '.join(verdict.rule_ids) or '-'})")
    if case.approvers is not None:
        could = sorted({n for names in verdict.approvers.values() for n in names})
        if could != sorted(case.approvers):
            problems.append(f"expected approvers {sorted(case.approvers)}, got {could}")
    return problems
