"""Break-glass: ``--break-glass "payments down, rollback needed"`` lets a configured role run
a command through a change freeze or without its approvals. It never overrides a policy
denial, a rate limit or a confirmation, it needs a written reason, and it is loud: posted to
the break-glass channel, marked ``break-glass`` in the audit (``/audit break-glass``).
"""

from __future__ import annotations

from opsroom.config.guardrails import BreakGlassConfig
from opsroom.core import Principal

FLAG = "break_glass"  # Invocation.flags key of the engine flag --break-glass


def refusal(config: BreakGlassConfig, principal: Principal, reason: object) -> str | None:
    """Why this use of break-glass is refused; None when it may go ahead."""
    if not (config.roles or config.users):
        return "break-glass is not enabled here (guardrails.break_glass names nobody)"
    if not principal.known or not (principal.name in config.users or principal.roles & set(config.roles)):
        who = ", ".join([f"role {r}" for r in config.roles] + list(config.users))
        return f"{principal.name} may not use break-glass (allowed: {who})"
    text = " ".join(str(reason if reason is not True else "").split())
    if len(text) < config.min_reason_chars:
        return (
            f"break-glass needs a written reason of at least {config.min_reason_chars} characters: "
            '--break-glass "payments down, rollback needed"'
        )
    return None


def reason_of(flags: dict[str, object] | object) -> str:
    value = flags.get(FLAG) if isinstance(flags, dict) else None
    return " ".join(str(value).split()) if value not in (None, True) else ""
