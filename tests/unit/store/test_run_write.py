"""``Database.run_write(fn)``: the per-command writes. Several at once share commits; each
caller goes on only once its rows are durable; one that fails loses only its own rows — on
SQLite (a ``write()`` block on the loop) and PostgreSQL (the writer thread)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable

from sqlalchemy import Connection, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from opsroom.store import Database
from opsroom.store.tables import locks


def _lock(key: str) -> Callable[[Connection], str]:
    def write(conn: Connection) -> str:
        conn.execute(insert(locks).values(key=key, holder="alice", since=dt.datetime.now(dt.UTC)))
        return key

    return write


def _keys(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(locks.c.key)).scalars())


async def test_concurrent_writes_share_commits_and_are_durable_on_return(db: Database) -> None:
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    seen_after: dict[str, set[str]] = {}

    async def writer(key: str) -> None:
        assert await db.run_write(_lock(key)) == key
        seen_after[key] = _keys(db)  # another connection: only committed rows

    await asyncio.gather(*(writer(f"k{i}") for i in range(20)))
    assert _keys(db) == {f"k{i}" for i in range(20)}
    assert all(key in rows for key, rows in seen_after.items())
    assert 1 <= len(commits) < 20


async def test_a_failing_write_loses_only_its_own_rows(db: Database) -> None:
    def failing(conn: Connection) -> None:
        conn.execute(insert(locks).values(key="bad", holder="bob", since=dt.datetime.now(dt.UTC)))
        raise ValueError("boom")

    results = await asyncio.gather(
        db.run_write(_lock("a")),
        db.run_write(failing),
        db.run_write(_lock("b")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    assert _keys(db) == {"a", "b"}


async def test_a_database_error_reaches_its_caller_and_the_next_write_works(db: Database) -> None:
    await db.run_write(_lock("taken"))
    results = await asyncio.gather(
        db.run_write(_lock("taken")),
        db.run_write(_lock("free")),
        return_exceptions=True,
    )
    assert isinstance(results[0], IntegrityError) and results[1] == "free"
    assert await db.run_write(_lock("after")) == "after"
    assert _keys(db) == {"taken", "free", "after"}


async def test_postgresql_writes_leave_the_event_loop_free(db: Database) -> None:
    """On PostgreSQL the write runs on another thread: while it waits for the server, the
    loop goes on (here: a write held up by a row lock another connection holds)."""
    if db.engine.dialect.name != "postgresql":
        return  # SQLite writes on the loop by design (a commit costs less than a thread hop)
    await db.run_write(_lock("held"))
    blocker = db.engine.connect()
    blocker.begin()
    blocker.execute(text("SELECT 1 FROM locks WHERE key = 'held' FOR UPDATE"))
    threads: list[str] = []

    def update(conn: Connection) -> None:
        threads.append(threading.current_thread().name)
        conn.execute(text("UPDATE locks SET holder = 'carol' WHERE key = 'held'"))

    write = asyncio.ensure_future(db.run_write(update))
    ticks = 0
    for _ in range(5):  # the loop turns while the write waits for the row lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not write.done() and ticks == 5
    blocker.rollback()
    blocker.close()
    await write
    assert threads == ["opsroom-db-writer"]
    with db.read() as conn:
        assert conn.execute(text("SELECT holder FROM locks WHERE key = 'held'")).scalar_one() == "carol"
