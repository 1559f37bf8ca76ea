"""DriverStatement stores exactly what SQLAlchemy's own execute would (SQLite)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError

from opsroom.store import Database, create_db_engine
from opsroom.store.db import DriverStatement
from opsroom.store.tables import locks, runs

ROW = {
    "command": "deploy",
    "args": {"service": "api", "n": 3, "deep": [1, None, "é"]},
    "raw_text": "deploy api",
    "user": "alice",
    "platform": "web",
    "channel": "c1",
    "channel_name": "#ops",
    "thread": None,
    "state": "running",
    "fingerprint": "f" * 64,
    "lock_key": None,
    "dry_run": True,
    "created_at": dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
    "started_at": None,
    "timeout": 30.5,
    "result": "",
    "error": "",
    "output": "line\n",
    "output_truncated": False,
    "extra": {},
}


@pytest.fixture
def sqlite_db(tmp_path: Path):
    db = Database(create_db_engine(f"sqlite:///{tmp_path / 'opsroom.db'}"))
    db.migrate()
    yield db
    db.dispose()


def _raw_rows(db: Database) -> list[tuple]:
    with db.read() as conn:
        return conn.exec_driver_sql("SELECT * FROM runs ORDER BY id").fetchall()


def test_insert_and_update_store_what_sqlalchemy_stores(sqlite_db: Database) -> None:
    fast_insert = DriverStatement(insert(runs))
    fast_update = DriverStatement(update(runs).where(runs.c.id == bindparam("run_id")))
    changes = {
        "state": "succeeded",
        "exit_code": 0,
        "output_truncated": True,
        "finished_at": dt.datetime(2024, 5, 1, 12, 31, tzinfo=dt.UTC),
        "extra": {"k": "v"},
    }
    with sqlite_db.begin() as conn:
        slow_id = conn.execute(insert(runs), ROW).inserted_primary_key[0]
        fast_id = fast_insert.execute(conn, dict(ROW)).lastrowid
        conn.execute(update(runs).where(runs.c.id == bindparam("run_id")), {"run_id": slow_id, **changes})
        fast_update.execute(conn, {**changes, "run_id": fast_id})
    slow, fast = _raw_rows(sqlite_db)
    assert slow[1:] == fast[1:]  # every column but the id, byte for byte


def test_errors_come_out_as_sqlalchemy_errors(sqlite_db: Database) -> None:
    fast = DriverStatement(insert(locks))
    row = {"key": "k", "run_id": None, "holder": "alice", "since": dt.datetime.now(dt.UTC)}
    with pytest.raises(IntegrityError):
        with sqlite_db.begin() as conn:
            fast.execute(conn, row)
            fast.execute(conn, row)


def test_a_column_default_it_cannot_fill_is_refused(sqlite_db: Database) -> None:
    fast = DriverStatement(insert(runs))
    partial = {k: v for k, v in ROW.items() if k != "extra"}  # `extra` has a Python default
    with pytest.raises(AssertionError, match="extra"):
        with sqlite_db.begin() as conn:
            fast.execute(conn, partial)


def test_a_statement_of_one_parameter_binds_a_list_of_one(sqlite_db: Database) -> None:
    release = DriverStatement(delete(locks).where(locks.c.key == bindparam("key")))
    since = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    with sqlite_db.begin() as conn:
        conn.execute(insert(locks).values(key="k", run_id=None, holder="alice", since=since))
        sql, params = release.bound(conn, {"key": "k"})
        assert params == ["k"] and sql.count("?") == 1
        assert release.execute(conn, {"key": "k"}).rowcount == 1
