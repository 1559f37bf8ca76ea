"""``Database.write()``: writes of one event-loop turn share one commit (group commit), and
each writer still returns only once its rows are durable — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from opsroom.store import Database
from opsroom.store.tables import locks


def _lock(conn: object, key: str) -> None:
    conn.execute(
        insert(locks).values(
            key=key,
            holder="alice",  # type: ignore[attr-defined]
            since=dt.datetime.now(dt.UTC),
        )
    )


def _keys(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(locks.c.key)).scalars())


def _count_commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    return commits


async def test_writes_of_one_turn_share_one_commit_and_are_durable_on_return(db: Database) -> None:
    commits = _count_commits(db)
    seen_after: dict[str, set[str]] = {}

    async def writer(key: str) -> None:
        async with db.write() as conn:
            _lock(conn, key)
        seen_after[key] = _keys(db)  # another connection: only committed rows

    await asyncio.gather(*(writer(f"k{i}") for i in range(5)))
    assert len(commits) == 1
    assert _keys(db) == {f"k{i}" for i in range(5)}
    assert all(f"{key}" in rows for key, rows in seen_after.items())


async def test_a_failing_block_loses_only_its_own_rows(db: Database) -> None:
    async def writer(key: str, fail: bool) -> None:
        async with db.write() as conn:
            _lock(conn, key)
            if fail:
                raise ValueError("boom")

    results = await asyncio.gather(writer("a", False), writer("b", True), writer("c", False), return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert _keys(db) == {"a", "c"}


async def test_a_failing_first_block_leaves_nothing_and_the_next_write_works(db: Database) -> None:
    with pytest.raises(ValueError):
        async with db.write() as conn:
            _lock(conn, "x")
            raise ValueError("boom")
    assert _keys(db) == set()
    async with db.write() as conn:
        _lock(conn, "y")
    assert _keys(db) == {"y"}


async def test_a_failed_commit_fails_every_writer_in_it(db: Database) -> None:
    # A deferred foreign key is checked at COMMIT: the shared commit fails, and no writer may
    # believe its row was written.
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE t_parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE t_child (pid INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED)"))

    async def good() -> None:
        async with db.write() as conn:
            _lock(conn, "good")

    async def orphan() -> None:
        async with db.write() as conn:
            conn.execute(text("INSERT INTO t_child (pid) VALUES (42)"))

    results = await asyncio.gather(good(), orphan(), return_exceptions=True)
    assert all(isinstance(r, IntegrityError) for r in results), results
    assert _keys(db) == set()
    async with db.write() as conn:  # the connection is usable again
        _lock(conn, "after")
    assert _keys(db) == {"after"}


async def test_begin_in_the_same_turn_commits_the_shared_transaction_first(db: Database) -> None:
    # Without that, begin() would wait for the write lock of a transaction that only this
    # thread can commit (SQLite: busy_timeout, then "database is locked").
    async def shared() -> None:
        async with db.write() as conn:
            _lock(conn, "shared")

    async def plain() -> None:
        with db.begin() as conn:
            _lock(conn, "plain")

    started = time.monotonic()
    await asyncio.gather(shared(), plain())
    assert time.monotonic() - started < 2
    assert _keys(db) == {"shared", "plain"}


async def test_awaiting_inside_a_block_is_refused_to_the_next_writer(db: Database) -> None:
    inside = asyncio.Event()

    async def slow() -> None:
        async with db.write() as conn:
            _lock(conn, "slow")
            inside.set()
            await asyncio.sleep(0.01)  # not allowed: the transaction is shared

    async def other() -> None:
        await inside.wait()
        async with db.write() as conn:
            _lock(conn, "other")

    results = await asyncio.gather(slow(), other(), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], RuntimeError)
    assert _keys(db) == {"slow"}


async def test_a_cancellation_waits_for_the_commit_and_comes_after_it(db: Database) -> None:
    steps: list[str] = []

    async def writer() -> None:
        async with db.write() as conn:
            _lock(conn, "kept")
            asyncio.current_task().cancel()  # type: ignore[union-attr]  # arrives mid-commit
        steps.append("after the block")  # runs: the commit is done, as with a sync commit
        await asyncio.sleep(0)
        steps.append("unreachable")

    task = asyncio.create_task(writer())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["after the block"]
    assert _keys(db) == {"kept"}


async def test_in_memory_sqlite_commits_each_block_at_its_end() -> None:
    # One connection is shared there: a read must not find (and roll back) an open write.
    from opsroom.store import create_db_engine

    db = Database(create_db_engine("sqlite:///:memory:"))
    db.create_all()
    try:

        async def writer(key: str) -> None:
            async with db.write() as conn:
                _lock(conn, key)
            assert key in _keys(db)

        await asyncio.gather(writer("a"), writer("b"))
        assert _keys(db) == {"a", "b"}
    finally:
        db.dispose()


@pytest.mark.parametrize("how", ["write", "run_write"])
async def test_a_cancellation_while_waiting_for_the_commit_leaves_the_others_alone(db: Database, how: str) -> None:
    # Two writers share a commit; the second cancels the first while that one waits for it.
    tasks: list[asyncio.Task[str]] = []
    loop, loop_thread = asyncio.get_running_loop(), threading.get_ident()

    def lock_and_cancel_the_first(conn: object, key: str) -> None:
        _lock(conn, key)
        if threading.get_ident() == loop_thread:
            if key == "kept":  # the first is waiting for the shared commit, not yet made
                tasks[0].cancel()
        elif key == "cancelled":  # PostgreSQL's run_write, on the writer thread: the
            loop.call_soon_threadsafe(tasks[0].cancel)  # cancel comes before the commit's news

    async def writer(key: str) -> str:
        if how == "write":
            async with db.write() as conn:
                lock_and_cancel_the_first(conn, key)
        else:
            await db.run_write(lambda conn: lock_and_cancel_the_first(conn, key))
        return "returned"

    tasks.append(asyncio.create_task(writer("cancelled")))
    await asyncio.sleep(0)  # the first writes and waits
    tasks.append(asyncio.create_task(writer("kept")))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)  # passed on, after the commit
    assert results[1] == "returned"  # the shared commit was not cancelled for the other
    assert _keys(db) == {"cancelled", "kept"}  # the cancelled writer's row was committed
