"""A chat adapter's private state in one small SQLite file in its store folder: what must
survive a restart but is no opsroom data (a sync token, the bot's device, where to post).
Adapters that need more tables subclass it and add them in ``_schema``."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class LocalState:
    def __init__(self, folder: Path, filename: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / filename
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.executescript(
            "PRAGMA journal_mode=WAL;\n"
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n" + self._schema()
        )

    def _schema(self) -> str:
        return ""

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, key: str) -> str:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else ""

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    def keys(self, prefix: str) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\'",
                (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
            )
            return [str(r[0]) for r in rows.fetchall()]
