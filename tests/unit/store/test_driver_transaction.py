"""SQLite's write transactions are begun and ended on the driver (store/driver.py,
``DriverTransaction``): the write lock is taken up front, statements through SQLAlchemy
join the same transaction, and a group's blocks keep their own rollbacks."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from opsroom.store import Database
from opsroom.store.db import driver_execute
from opsroom.store.tables import locks


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    path = tmp_path / "opsroom.db"
    db = Database.open(str(path))
    yield db, path
    db.dispose()


def _lock(conn: Connection, key: str) -> None:
    conn.execute(insert(locks).values(key=key, holder="alice", since=dt.datetime.now(dt.UTC)))


def _lock_on_driver(conn: Connection, key: str) -> None:
    driver_execute(conn, "INSERT INTO locks (key, holder, since) VALUES (?, 'bob', '2026-01-01 00:00:00')", (key,))


def _keys(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(locks.c.key)).scalars())


def _other_writer_is_locked_out(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    except sqlite3.OperationalError as err:
        assert "locked" in str(err)
        return True
    finally:
        other.close()
    return False


def test_a_write_takes_the_lock_before_its_first_statement(sqlite_file: tuple[Database, Path]) -> None:
    db, path = sqlite_file
    with db.begin():
        assert _other_writer_is_locked_out(path)
    assert not _other_writer_is_locked_out(path)


async def test_a_shared_write_takes_the_lock_before_its_first_statement(sqlite_file: tuple[Database, Path]) -> None:
    db, path = sqlite_file
    async with db.write():
        assert _other_writer_is_locked_out(path)
    assert not _other_writer_is_locked_out(path)


def test_sqlalchemy_and_driver_statements_commit_together_and_leave_no_transaction(
    sqlite_file: tuple[Database, Path],
) -> None:
    db, _ = sqlite_file
    with db.begin() as conn:
        _lock_on_driver(conn, "driver")
        _lock(conn, "core")  # SQLAlchemy autobegins here: it joins, no second BEGIN
        with conn.begin_nested():
            _lock(conn, "nested")
    assert _keys(db) == {"driver", "core", "nested"}
    assert not conn.in_transaction()
    assert not conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
    with db.begin() as again:  # the kept writer, again
        _lock(again, "next")
    assert _keys(db) == {"driver", "core", "nested", "next"}


def test_an_error_rolls_back_both_kinds_of_statement(sqlite_file: tuple[Database, Path]) -> None:
    db, _ = sqlite_file
    with pytest.raises(ValueError), db.begin() as conn:
        _lock_on_driver(conn, "driver")
        _lock(conn, "core")
        raise ValueError("boom")
    assert _keys(db) == set()
    with db.begin() as conn:
        _lock(conn, "after")
    assert _keys(db) == {"after"}


async def test_a_failing_block_in_a_group_loses_only_its_own_rows_whatever_it_wrote_through(
    sqlite_file: tuple[Database, Path],
) -> None:
    db, _ = sqlite_file

    async def writer(key: str, fail: bool) -> None:
        async with db.write() as conn:
            _lock_on_driver(conn, key + "-driver")
            _lock(conn, key)
            with conn.begin_nested():
                _lock(conn, key + "-nested")
            if fail:
                _lock(conn, "a")  # a duplicate key: the statement fails
                raise AssertionError("not reached")

    results = await asyncio.gather(writer("a", False), writer("b", True), writer("c", False), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert _keys(db) == {"a", "a-driver", "a-nested", "c", "c-driver", "c-nested"}


def test_a_reader_still_reads_one_snapshot(sqlite_file: tuple[Database, Path]) -> None:
    db, path = sqlite_file
    with db.read() as conn:
        conn.execute(select(locks.c.key)).all()
        assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        assert not _other_writer_is_locked_out(path)  # deferred: it blocks no writer


def test_a_begin_inside_a_begin_is_refused_on_in_memory_sqlite() -> None:
    db = Database.open(":memory:")
    try:
        with pytest.raises(Exception, match="within a transaction"), db.begin(), db.begin():
            pass
        with db.begin() as conn:  # and the connection is usable afterwards
            _lock(conn, "k")
        assert _keys(db) == {"k"}
    finally:
        db.dispose()


def test_statements_after_a_commit_inside_the_block_are_in_a_transaction_again(
    sqlite_file: tuple[Database, Path],
) -> None:
    db, _ = sqlite_file
    with db.begin() as conn:
        _lock(conn, "first")
        conn.commit()  # ends SQLAlchemy's transaction, and the driver's it had joined
        _lock(conn, "second")  # autobegins: a real BEGIN again, not autocommit
        assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
    assert _keys(db) == {"first", "second"}
