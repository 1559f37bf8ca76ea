"""The one place a run changes state.

``TRANSITIONS`` says which moves exist; ``move`` makes one: it checks the move, writes the
new state, releases the run's lock when the run ends, and appends the audit row — all on the
caller's connection, so the state change and its audit row commit in one transaction (or not
at all). Whether a run is still active, or waiting for someone, is a property of its state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from opsroom.audit import AuditRecord
from opsroom.core import TERMINAL_STATES, RunState
from opsroom.errors import InternalError
from opsroom.runs import store as run_store
from opsroom.store import run_audit

S = RunState
_ENDINGS = frozenset({S.CANCELLED, S.INTERRUPTED})

TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    S.AWAITING_CONFIRMATION: frozenset({S.AWAITING_APPROVAL, S.QUEUED, S.DENIED, S.EXPIRED}) | _ENDINGS,
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.DENIED, S.EXPIRED}) | _ENDINGS,
    # A queued run may end without running (cancelled while it waited for a slot, or its
    # runner failed to start): every ending is possible.
    S.QUEUED: frozenset({S.RUNNING}) | TERMINAL_STATES,
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT}) | _ENDINGS,
    **{state: frozenset() for state in TERMINAL_STATES},
    # Someone looked at a run cut off by a restart and says it failed (engine/interrupted.py).
    S.INTERRUPTED: frozenset({S.FAILED}),
}

WAITING = frozenset({S.AWAITING_CONFIRMATION, S.AWAITING_APPROVAL})
ACTIVE = frozenset(s for s in RunState if s not in TERMINAL_STATES)


def is_active(state: RunState) -> bool:
    """Not ended yet: waiting, queued or running."""
    return state in ACTIVE


class AuditAppender(Protocol):
    def append_many(
        self, conn: Connection, entries: Sequence[AuditRecord], *, covered: tuple[int, int, int] | None = None
    ) -> list[int]: ...


class BadTransition(InternalError, RuntimeError):
    """A move the table does not have: a bug, never a user's mistake."""


def move(
    conn: Connection,
    run_id: int,
    current: RunState,
    to: RunState,
    *,
    audit: AuditAppender,
    record: AuditRecord | None,
    lock_key: str | None = None,
    **values: Any,
) -> None:
    """Move run ``run_id`` from ``current`` to ``to`` on ``conn``: state (and ``values``,
    e.g. ``finished_at``), the lock released if the run ends, the audit row appended."""
    if to not in TRANSITIONS[current]:
        raise BadTransition(f"run #{run_id}: {current.value} → {to.value} is not a transition")
    if record is not None and record.run_id == run_id and conn.dialect.name == "sqlite":
        # The row first: the run row's own write then records it as the last of the run's
        # audit rows (store/run_audit.py; ids only grow), with no UPDATE of its own.
        values["audit_last"] = audit.append_many(conn, [record], covered=(run_id, 0, run_audit.NO_END))[-1]
        record = None
        if run_store.move_values(conn, run_id, to, values) == 0:  # no such run: read by a scan
            run_audit.note_orphan(conn, run_id)
    else:
        run_store.move_values(conn, run_id, to, values)
    if lock_key and to in TERMINAL_STATES:
        run_store.release_lock(conn, lock_key, run_id)
    if record is not None:
        audit.append_many(conn, [record])
