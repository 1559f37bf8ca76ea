"""Exactly-once for inbound events, across kill -9.

A platform retries a delivery it got no answer for (Slack, Mattermost); the engine drops a
repeat by its event id (``processed_events``). The marker saying "this delivery was handled"
must commit in the same transaction as what handling it produced — the run row, or the
parse-error / denial / lock-refusal audit rows — or a crash between the two commits either
drops the command (marker written, run not: the retry is taken for a duplicate) or runs it
twice (run written, marker not).

So the engine carries a ``Delivery`` down to the one place that writes the outcome, which
calls ``claim(conn)`` first thing inside its transaction. When an earlier delivery of the
same event committed its marker already, ``claim`` raises ``Duplicate`` and the caller's
transaction (its savepoint in a shared commit) is rolled back: nothing of the repeat is kept
and nothing is answered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from opsroom.errors import OpsroomError
from opsroom.runs import store as run_store
from opsroom.store.driver import DriverStatement
from opsroom.store.tables import processed_events

# ON CONFLICT DO NOTHING rather than catching IntegrityError: no savepoint on the hot path,
# and on PostgreSQL a failed insert would abort the caller's whole transaction. RETURNING
# tells whether a row went in (psycopg reports no rowcount for it).
# Built per backend at its first delivery: importing SQLAlchemy's PostgreSQL dialect (19
# modules) is not needed to start on SQLite.
_INSERTS: dict[str, Any] = {}
# On SQLite every command's marker goes to the driver as SQL compiled once, like the run rows
# (store/driver.py DriverStatement: SQLAlchemy's per-execution work costs more than the insert).
_SQLITE_INSERT: DriverStatement | None = None


def _insert_for(backend: str) -> Any:
    stmt = _INSERTS.get(backend)
    if stmt is None:
        if backend not in ("sqlite", "postgresql"):
            raise KeyError(backend)
        dialect = importlib.import_module(f"sqlalchemy.dialects.{backend}")
        stmt = dialect.insert(processed_events).on_conflict_do_nothing().returning(processed_events.c.event_id)
        _INSERTS[backend] = stmt
    return stmt


class Duplicate(OpsroomError):
    """This delivery was handled before (its marker is committed): drop it."""


@dataclass
class Delivery:
    """One inbound event's duplicate marker, to be claimed with what the event produced."""

    event_id: str
    platform: str
    claimed: bool = False

    def claim(self, conn: Connection) -> None:
        """Insert the marker in ``conn``'s transaction; raise ``Duplicate`` if it exists.

        Call it before the transaction's other writes, so a repeat writes nothing. Claiming
        twice is a no-op (one event may write more than once, e.g. a built-in's decision)."""
        if self.claimed:
            return
        values = {"event_id": self.event_id[:200], "platform": self.platform, "seen_at": run_store.utcnow()}
        if conn.dialect.name == "sqlite":
            global _SQLITE_INSERT
            if _SQLITE_INSERT is None:
                _SQLITE_INSERT = DriverStatement(_insert_for("sqlite"))
            # fetchall: the RETURNING row, or none; the statement runs to its end here
            inserted = bool(_SQLITE_INSERT.execute(conn, values).fetchall())
        else:
            inserted = conn.execute(_insert_for(conn.dialect.name), values).first() is not None
        if not inserted:
            raise Duplicate(self.event_id)
        self.claimed = True
