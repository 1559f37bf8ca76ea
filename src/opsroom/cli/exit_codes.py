"""Exit codes of ``opsroom shell`` reading a script (stdin not a terminal), so CI can tell
a denial or a failed run from success. Read back from what the session wrote (its audit rows
and runs), the same record everyone else reads: nothing in the engine knows about the shell.

| code | meaning (the first that applies) |
|---|---|
| 0 | every line was understood, allowed and, if it started a run, the run succeeded |
| 2 | a line could not be parsed (unknown command, bad argument) |
| 3 | a command was denied (policy, freeze, rate limit, lock, change review, a denied approval) |
| 4 | a run failed, timed out, was cancelled or interrupted |
| 5 | a run is still waiting for a confirmation or an approval when the input ends |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from opsroom.store.tables import audit_log, runs

if TYPE_CHECKING:
    from opsroom.store import Database

OK, PARSE_ERROR, DENIED, RUN_FAILED, HOLD_PENDING = 0, 2, 3, 4, 5

_DENIED_ACTIONS = frozenset(
    {"freeze.denied", "rate_limited", "lock.refused", "break-glass.refused", "change.refused", "action.denied"}
)
_RUN_CODES = {
    "denied": DENIED,
    "expired": DENIED,
    "failed": RUN_FAILED,
    "timed_out": RUN_FAILED,
    "cancelled": RUN_FAILED,
    "interrupted": RUN_FAILED,
    "awaiting_confirmation": HOLD_PENDING,
    "awaiting_approval": HOLD_PENDING,
}


@dataclass(frozen=True)
class Mark:
    """Where the record stood when the session began."""

    audit_id: int
    run_id: int


def mark(db: Database) -> Mark:
    with db.read() as conn:
        audit_id = conn.execute(select(func.max(audit_log.c.id))).scalar() or 0
        run_id = conn.execute(select(func.max(runs.c.id))).scalar() or 0
    return Mark(int(audit_id), int(run_id))


def exit_code(db: Database, user: str, since: Mark, platform: str = "shell") -> int:
    """The session's verdict for ``user``'s lines since ``since`` (see the table above)."""
    found: set[int] = set()
    with db.read() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.detail).where(
                audit_log.c.id > since.audit_id, audit_log.c.actor == user, audit_log.c.platform == platform
            )
        )
        for action, detail in rows:
            if action == "parse_error":
                found.add(PARSE_ERROR)
            elif action in _DENIED_ACTIONS or (action == "decision" and not (detail or {}).get("allowed", True)):
                found.add(DENIED)
        states = conn.execute(
            select(runs.c.state).where(runs.c.id > since.run_id, runs.c.user == user, runs.c.platform == platform)
        ).scalars()
        found.update(_RUN_CODES.get(str(state), OK) for state in states)
    found.discard(OK)
    return min(found) if found else OK
