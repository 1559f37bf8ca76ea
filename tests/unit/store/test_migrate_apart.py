"""The schema upgrade in a child process (opsroom.store.migrate_apart), called in process: a
spawned child upgrades a new database; a database that is current starts no child; a failure
comes back as one sentence; a process that runs other threads spawns rather than forks."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from opsroom.store import Database, create_db_engine
from opsroom.store.migrate import current_revisions, script_heads
from opsroom.store.migrate_apart import MigrationFailed, reason, upgrade_apart


def test_a_spawned_child_upgrades_a_new_database_and_a_current_one_starts_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = create_db_engine(url)
    try:
        assert upgrade_apart(url, engine=engine, how="spawn") is True
        assert current_revisions(engine) == script_heads()
        assert upgrade_apart(url, engine=engine, how="spawn") is False  # current: nothing to do
    finally:
        engine.dispose()


def test_with_another_thread_running_it_spawns_and_the_database_opens_migrated(tmp_path: Path) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        db = Database.open(f"sqlite:///{tmp_path / 'new.db'}", apart=True)
    finally:
        stop.set()
        other.join()
    try:
        assert current_revisions(db.engine) == script_heads()
        with db.begin() as conn:  # the server's own engine works on the migrated schema
            assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 0
    finally:
        db.dispose()


def test_a_database_ahead_of_this_version_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "ahead.db"
    url = f"sqlite:///{path}"
    Database.open(url).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_newer' WHERE rowid = 1")
    engine = create_db_engine(url)
    try:
        with pytest.raises(MigrationFailed) as failed:
            upgrade_apart(url, engine=engine, how="spawn")
    finally:
        engine.dispose()
    assert str(failed.value) == (
        "the database is at revision '0099_newer', which this version of opsroom does not know "
        "(it was upgraded by a newer opsroom?): run that version, or restore a backup"
    )


def test_an_in_memory_database_is_upgraded_in_process() -> None:
    db = Database.open("sqlite://", apart=True)  # a child could not see it
    try:
        assert current_revisions(db.engine) == script_heads()
    finally:
        db.dispose()


def test_a_reason_is_the_first_line_of_the_error() -> None:
    assert reason(RuntimeError("(sqlite3.OperationalError) disk I/O error\n[SQL: CREATE TABLE …]")) == (
        "(sqlite3.OperationalError) disk I/O error"
    )
    assert reason(RuntimeError("")) == "RuntimeError"
