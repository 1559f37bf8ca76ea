"""What the permissions layer answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Requirement:
    """Something still needed before a run may start (used by later guardrails)."""

    kind: str  # "confirmation" | "approval" | "change_ticket" | ...
    detail: str = ""  # confirmation: "" (a button) or "typed:<arg>" (type that argument's value)
    count: int = 0
    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()  # approval: these users may approve too
    expires: int = 0  # approval: seconds until the request expires (0 = the default)
    allow_requester_team: bool = True  # approval: may someone sharing a group with the requester approve
    rule_id: str = ""  # the policy rule (or "command:<name>") that asked for it


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # one line for humans
    rule_ids: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = field(default_factory=tuple)

    @staticmethod
    def allow(reason: str = "allowed", rule_ids: tuple[str, ...] = ()) -> Decision:
        return Decision(True, reason, rule_ids)

    @staticmethod
    def deny(reason: str, rule_ids: tuple[str, ...] = ()) -> Decision:
        return Decision(False, reason, rule_ids)
