"""New SQLite databases get 2 KiB pages (fewer bytes to the WAL per commit); a database
made before keeps its own page size and works as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from opsroom.store import Database


def _page_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def test_a_new_database_gets_2k_pages(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'new.db'}")
    db.dispose()
    assert _page_size(tmp_path / "new.db") == 2048


def test_an_existing_database_keeps_its_page_size_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=4096")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE kept (v TEXT)")
    old.execute("INSERT INTO kept VALUES ('before')")
    old.commit()
    old.close()
    db = Database.open(f"sqlite:///{path}")
    with db.begin() as conn:
        conn.execute(text("INSERT INTO kept VALUES ('after')"))
    with db.read() as conn:
        assert sorted(conn.execute(text("SELECT v FROM kept")).scalars()) == ["after", "before"]
    db.dispose()
    assert _page_size(path) == 4096
