"""store/pgwrite.py: on PostgreSQL's writer thread, statements whose results nobody reads are
held back and sent with the next statement that needs an answer or with the COMMIT. None of
this may show: order, atomicity, each caller's own error, the audit chain (on SQLite the same
calls run at once, so every test runs on both backends)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from tests.support.invocations import run_invocation

from opsroom.audit import AuditLog, AuditRecord
from opsroom.store import Database
from opsroom.store.tables import audit_log, locks, runs
from opsroom.store.types import utcnow


def _run_row(conn: Connection, command: str) -> int:
    now = utcnow()
    values: dict[str, Any] = {
        "command": command,
        "args": {"a": 1},
        "raw_text": command,
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


async def test_a_held_back_write_that_fails_fails_only_its_caller_with_its_own_error(db: Database) -> None:
    from opsroom.runs import store as run_store

    audit = AuditLog(db)
    run_id = await db.run_write(lambda conn: _run_row(conn, "x"))
    await db.run_write(lambda conn: run_store.take_lock(conn, "k", run_id, "alice"))

    def ends(n: int):  # type: ignore[no-untyped-def]
        def write(conn: Connection) -> int:
            run_store.set_state(conn, run_id, run_store.RunState.SUCCEEDED, result=f"r{n}")
            audit.append_many(conn, [AuditRecord("alice", "run.finished", run_id=run_id, summary=f"{n}")])
            return n

        return write

    def bad(conn: Connection) -> None:
        audit.append_many(conn, [AuditRecord("bob", "x")])
        run_store.set_values(conn, run_id, state=None)  # NOT NULL: fails at the server
        audit.append_many(conn, [AuditRecord("bob", "y")])

    results = await asyncio.gather(
        db.run_write(ends(1)), db.run_write(bad), db.run_write(ends(2)), return_exceptions=True
    )
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], IntegrityError), results[1]
    assert audit.verify().ok
    with db.read() as conn:
        actions = list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars())
    assert actions == ["run.finished", "run.finished"]


async def test_held_back_rows_are_seen_by_the_next_statement_and_vanish_with_a_raise(db: Database) -> None:
    from opsroom.runs import store as run_store

    run_id = await db.run_write(lambda conn: _run_row(conn, "x"))

    def seen(conn: Connection) -> str:
        run_store.set_values(conn, run_id, result="first")  # held back on PostgreSQL
        return str(conn.execute(select(runs.c.result).where(runs.c.id == run_id)).scalar_one())

    assert await db.run_write(seen) == "first"

    def raises(conn: Connection) -> None:
        run_store.set_values(conn, run_id, result="second")
        raise ValueError("boom")

    got = await asyncio.gather(db.run_write(raises), db.run_write(lambda conn: 1), return_exceptions=True)
    assert isinstance(got[0], ValueError) and got[1] == 1
    with db.read() as conn:
        assert conn.execute(select(runs.c.result).where(runs.c.id == run_id)).scalar_one() == "first"


async def test_the_audit_chain_holds_across_groups_savepoints_and_a_second_writer(db: Database) -> None:
    audit = AuditLog(db)

    def append(n: int, rollback_one: bool = False):  # type: ignore[no-untyped-def]
        def write(conn: Connection) -> int:
            audit.append_many(conn, [AuditRecord("alice", "a", summary=str(n))])
            if rollback_one:  # a savepoint that rolls back one append: the tail is read again
                try:
                    with conn.begin_nested():
                        audit.append_many(conn, [AuditRecord("alice", "gone")])
                        conn.execute(insert(locks).values(key="dup", holder="a", since=dt.datetime.now(dt.UTC)))
                except IntegrityError:
                    pass
            audit.append_many(conn, [AuditRecord("alice", "b", summary=str(n))])
            return n

        return write

    with db.begin() as conn:
        conn.execute(insert(locks).values(key="dup", holder="a", since=dt.datetime.now(dt.UTC)))
    for _ in range(3):
        await asyncio.gather(*(db.run_write(append(n, rollback_one=n % 3 == 0)) for n in range(12)))
        with db.begin() as conn:  # another writer in between (not the writer thread)
            AuditLog(db).append_many(conn, [AuditRecord("bob", "between")])
    report = audit.verify()
    assert report.ok, report
    with db.read() as conn:
        actions = list(conn.execute(select(audit_log.c.action)).scalars())
    assert "gone" not in actions and actions.count("a") == 36 and actions.count("b") == 36


async def test_the_writer_connection_is_left_as_it_was(db: Database) -> None:
    await db.run_write(lambda conn: _run_row(conn, "x"))
    writer = db._thread_writes
    if writer is None:
        return  # SQLite: no writer thread
    conns = writer.connections()
    assert conns
    for conn in conns:
        raw: Any = conn.connection.driver_connection
        assert raw.autocommit is False and not conn.in_transaction()


async def test_run_ids_drawn_by_a_group_follow_the_queue_and_a_write_that_takes_none_leaves_no_mix_up(
    db: Database,
) -> None:
    """On PostgreSQL a group draws its run ids in its first trip (``new_runs``); each run row
    still gets a unique id, in the order the writes were queued, and what the function
    returns is the id stored."""
    from opsroom.runs import store as run_store

    def submit(n: int):  # type: ignore[no-untyped-def]
        def write(conn: Connection) -> tuple[int, int]:
            if n == 3:  # like a lock refusal: hinted a run, inserted none
                return n, 0
            run_id = run_store.insert_run(
                conn, run_invocation(n), run_store.RunState.RUNNING, lock_key=None, timeout=5.0, stored_args={}
            )
            return n, run_id

        return write

    got = await asyncio.gather(*(db.run_write(submit(n), new_runs=1) for n in range(8)))
    with db.read() as conn:
        stored = dict(conn.execute(select(runs.c.command, runs.c.id)).all())
    made = [(n, rid) for n, rid in got if rid]
    assert {f"cmd{n}": rid for n, rid in made} == stored
    ids = [rid for _, rid in made]
    assert ids == sorted(ids) and len(set(ids)) == 7


async def test_values_bound_client_side_are_stored_exactly(db: Database) -> None:
    """Held-back statements travel with their values quoted by psycopg: awkward text and JSON
    come back as given."""
    from opsroom.runs import store as run_store

    text = 'it\'s 100% \\done\\ "ok" %s %(x)s ; -- é 日本 \U0001f600 \r\n\t end'
    run_id = await db.run_write(lambda conn: _run_row(conn, "x"))

    def end(conn: Connection) -> None:
        run_store.set_values(conn, run_id, output=text, result=text, exit_code=-1, extra={"k": text, "n": [1.5, None]})

    await asyncio.gather(db.run_write(end), db.run_write(lambda conn: 0))
    with db.read() as conn:
        row = conn.execute(select(runs.c.output, runs.c.result, runs.c.exit_code, runs.c.extra)).one()
    assert tuple(row) == (text, text, -1, {"k": text, "n": [1.5, None]})
