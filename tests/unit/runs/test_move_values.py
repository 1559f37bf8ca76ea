"""runs/lifecycle.move hands its keyword dict to run_store.move_values (one copy where
``set_state(**values)`` made three): the run row it writes is the one SQLAlchemy's own
UPDATE writes, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opsroom.audit import AuditLog, AuditRecord
from opsroom.core import RunState
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store
from opsroom.store import Database
from opsroom.store.tables import runs


def _run_row(conn: Connection) -> int:
    now = dt.datetime(2026, 12, 5, 4, 0, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "command": "ping",
        "args": {"a": 1},
        "raw_text": "ping",
        "user": "alice",
        "platform": "test",
        "channel": "c",
        "channel_name": "#c",
        "state": "running",
        "fingerprint": "f",
        "created_at": now,
        "started_at": now,
        "timeout": 10.0,
    }
    return int(conn.execute(insert(runs).returning(runs.c.id), values).scalar_one())


FINISHES: list[tuple[RunState, dict[str, Any]]] = [
    (
        RunState.SUCCEEDED,
        {
            "finished_at": dt.datetime(2026, 12, 5, 4, 5, 6, 789, tzinfo=dt.UTC),
            "exit_code": 0,
            "output": "pong\n",
            "output_truncated": False,
            "result": "pong",
            "error": "",
        },
    ),
    (
        RunState.TIMED_OUT,
        {
            "finished_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "exit_code": None,
            "output": "! x\n" * 3,
            "output_truncated": True,
            "result": "",
            "error": "timed out after 1s",
        },
    ),
    (RunState.CANCELLED, {"finished_at": dt.datetime(2026, 6, 1, tzinfo=dt.UTC), "error": "cancelled by bob"}),
]


async def test_move_writes_the_row_sqlalchemys_update_writes(db: Database) -> None:
    audit = AuditLog(db)
    for to, values in FINISHES:
        ours = await db.run_write(_run_row)
        theirs = await db.run_write(_run_row)

        def ours_move(conn: Connection, ours: int = ours, to: RunState = to, values: dict[str, Any] = values) -> None:
            record = AuditRecord(actor="alice", action="run.finished", run_id=ours, summary="s", detail=None)
            lifecycle.move(conn, ours, RunState.RUNNING, to, audit=audit, record=record, **values)

        def their_update(
            conn: Connection, theirs: int = theirs, to: RunState = to, values: dict[str, Any] = values
        ) -> None:
            conn.execute(update(runs).where(runs.c.id == theirs).values(state=to.value, **values))

        await db.run_write(ours_move)
        await db.run_write(their_update)
        with db.begin() as conn:
            a, b = (conn.execute(select(runs).where(runs.c.id == i)).one()._asdict() for i in (ours, theirs))
        # (SQLite: the move also records its audit row as the run's last, store/run_audit.py)
        own = {"id", "audit_first", "audit_last"}
        assert {k: v for k, v in a.items() if k not in own} == {k: v for k, v in b.items() if k not in own}
        assert a["state"] == to.value
        last = [e.id for e in audit.for_run(ours)][-1]
        assert a["audit_last"] == (last if db.engine.dialect.name == "sqlite" else None)


async def test_set_state_and_set_values_still_take_keywords(db: Database) -> None:
    run_id = await db.run_write(_run_row)
    await db.run_write(lambda conn: run_store.set_state(conn, run_id, RunState.FAILED, error="e", exit_code=3))
    await db.run_write(lambda conn: run_store.set_values(conn, run_id, result="r"))
    with db.begin() as conn:
        got = conn.execute(
            select(runs.c.state, runs.c.error, runs.c.exit_code, runs.c.result).where(runs.c.id == run_id)
        ).one()
    assert tuple(got) == ("failed", "e", 3, "r")
