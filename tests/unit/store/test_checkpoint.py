"""SQLite WAL checkpoints happen on the checkpointer's thread, never inside a commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from opsroom.store import Database, create_db_engine
from opsroom.store.checkpoint import WalCheckpointer


def _file_db(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "opsroom.db"
    db = Database(create_db_engine(f"sqlite:///{path}"))
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
    return db, path


def test_commits_leave_the_wal_to_the_checkpointer(tmp_path: Path) -> None:
    db, path = _file_db(tmp_path)
    try:
        with db.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        before = path.stat().st_size
        for _ in range(300):  # ~1200 pages: past SQLite's own 1000-page checkpoint
            with db.begin() as conn:
                conn.execute(text("INSERT INTO blobs (body) VALUES (:b)"), {"b": "x" * 4000})
        deadline = time.monotonic() + 5
        while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The pages reached the database file while every connection stayed open: the
        # checkpointer copied them.
        assert path.stat().st_size >= before + 1_000_000
        with db.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM blobs")).scalar() == 300
    finally:
        db.dispose()


def test_dispose_stops_the_checkpointer(tmp_path: Path) -> None:
    db, _ = _file_db(tmp_path)
    assert db.checkpointer is not None
    thread = db.checkpointer._thread
    assert thread.is_alive()
    db.dispose()
    assert not thread.is_alive()


def test_memory_databases_have_no_checkpointer() -> None:
    db = Database(create_db_engine("sqlite:///:memory:"))
    assert db.checkpointer is None
    db.dispose()


def test_a_checkpointer_never_creates_a_database(tmp_path: Path) -> None:
    # Its database gone (a test's folder removed), a stray WAL must not make it create one.
    gone = tmp_path / "gone.db"
    (tmp_path / "gone.db-wal").write_bytes(b"")
    owner = object.__new__(Database)
    checkpointer = WalCheckpointer(str(gone), owner=owner, interval=0.01)
    time.sleep(0.1)
    checkpointer.stop()
    assert not gone.exists()


def test_a_large_wal_is_restarted_so_it_stops_growing(tmp_path: Path, monkeypatch) -> None:
    # Under writes that never pause a passive checkpoint cannot let the WAL start over;
    # past a size the checkpointer makes it restart.
    from opsroom.store import checkpoint

    db, path = _file_db(tmp_path)
    try:
        for _ in range(50):
            with db.begin() as conn:
                conn.execute(text("INSERT INTO blobs (body) VALUES (:b)"), {"b": "x" * 4000})
        raw = sqlite3.connect(path, isolation_level=None)
        monkeypatch.setattr(checkpoint, "_RESTART_FRAMES", 1)
        busy, frames, copied = WalCheckpointer.checkpoint(raw)
        assert (busy, copied) == (0, frames) and frames > 50
        with db.begin() as conn:  # the next writer starts the WAL from its beginning
            conn.execute(text("INSERT INTO blobs (body) VALUES ('y')"))
        assert raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < 10
        raw.close()
    finally:
        db.dispose()
