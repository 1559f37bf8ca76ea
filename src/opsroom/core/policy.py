"""What the permissions layer answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Requirement:
    """Something still needed before a run may start (used by later guardrails)."""

    kind: str  # "confirmation" | "approval" | "change_ticket" | ...
    detail: str = ""
    count: int = 0
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # one line for humans
    rule_ids: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = field(default_factory=tuple)

    @staticmethod
    def allow(reason: str = "allowed", rule_ids: tuple[str, ...] = ()) -> "Decision":
        return Decision(True, reason, rule_ids)

    @staticmethod
    def deny(reason: str, rule_ids: tuple[str, ...] = ()) -> "Decision":
        return Decision(False, reason, rule_ids)
