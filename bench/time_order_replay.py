"""A command's two SQLite transactions replayed in a plain sqlite3 loop (the method of
docs/performance.md "Wave 11 — one2"), with and without the time indexes.

Variants: ``main`` (``ix_audit_log_ts`` and ``ix_runs_created_at`` present, the run INSERT
as before), ``idb`` (no time indexes; the run INSERT's ``created_at`` not before the newest
run's, as migration 0012_idb_time_order and runs/store.py make it), ``idb-no-max`` (no
indexes, the plain INSERT: what the ``max(...)`` costs). Per command: run INSERT + three
audit rows, commit; run UPDATE + one audit row, commit. CPU µs a command, min and median of
5 rounds of 3,000 after 2,000 first.

    .venv/bin/python bench/time_order_replay.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from opsroom.audit import log as audit_log_module
from opsroom.runs import store as run_store
from opsroom.store import Database

UPDATE = "UPDATE runs SET state=?, finished_at=?, exit_code=?, result=? WHERE runs.id = ?"


class Replay:
    def __init__(self, path: Path, with_indexes: bool, run_sql: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if with_indexes:
            self.conn.execute("CREATE INDEX IF NOT EXISTS ix_audit_log_ts ON audit_log (ts)")
            self.conn.execute("CREATE INDEX IF NOT EXISTS ix_runs_created_at ON runs (created_at)")
        self.run_sql = run_sql
        self.last_id, self.last_hash, self.at = 0, "0" * 64, dt.datetime(2026, 12, 5)

    def _audit(self, run_id: int, count: int) -> None:
        for _ in range(count):
            self.last_id += 1
            self.at += dt.timedelta(microseconds=300)
            digest = hashlib.sha256(f"{self.last_id}{self.last_hash}".encode()).hexdigest()
            row: tuple[Any, ...] = (
                self.last_id,
                self.at.isoformat(" ", "microseconds"),
                "user1",
                "command.received",
                "ping",
            )
            row += ("bench", "c1", run_id, "/ping hello", "{}", self.last_hash, digest)
            self.conn.execute(audit_log_module._SQLITE_INSERT, row)
            self.last_hash = digest

    def command(self) -> None:
        ts = (self.at + dt.timedelta(microseconds=100)).isoformat(" ", "microseconds")
        run: tuple[Any, ...] = ("ping", "{}", "/ping hello", "user1", "bench", "c1", "#c1", None, "queued", "f" * 16)
        run += (None, 0, ts, ts, "", "", "", 0, 300.0, '{"replica":"x"}')
        self.conn.execute("BEGIN IMMEDIATE")
        run_id = int(self.conn.execute(self.run_sql, run).lastrowid or 0)
        self._audit(run_id, 3)
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(UPDATE, ("succeeded", ts, 0, "pong", run_id))
        self._audit(run_id, 1)
        self.conn.execute("COMMIT")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsroom-replay-"))
    db = Database.open(f"sqlite:///{tmp / 'migrated.db'}")
    with db.engine.connect() as conn:
        in_order = run_store._sqlite_run_plan(conn).sql
    db.dispose()
    plain = in_order.replace(run_store._NOT_BEFORE_NEWEST, "?")
    for n in range(args.rounds):
        for name, with_indexes, sql in (("main", True, plain), ("idb", False, in_order), ("idb-no-max", False, plain)):
            path = tmp / f"{name}{n}.db"
            shutil.copy(tmp / "migrated.db", path)
            replay = Replay(path, with_indexes, sql)
            for _ in range(2000):
                replay.command()
            took = []
            for _ in range(5):
                started = time.process_time()
                for _ in range(3000):
                    replay.command()
                took.append((time.process_time() - started) / 3000 * 1e6)
                replay.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            replay.conn.close()
            print(f"{name:<11} min {min(took):6.1f}  median {statistics.median(took):6.1f} µs a command", flush=True)


if __name__ == "__main__":
    main()
