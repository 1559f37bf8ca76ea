"""Audit append cost: rows/s for append and append_many on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_append.py                    # SQLite (temp file) + local PostgreSQL
    .venv/bin/python bench/audit_append.py --pg off           # SQLite only
    .venv/bin/python bench/audit_append.py --rows 20000

Each figure is the median of 3 runs. "in one txn" measures the append itself; "txn each"
adds a BEGIN IMMEDIATE/COMMIT per call, which is what a dispatcher pays when every state
change is its own transaction.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from opsroom.audit import AuditLog, AuditRecord
from opsroom.store import Database, create_db_engine

DETAIL = {"rule_ids": ["ops-may-restart", "freeze-window"], "args": {"service": "api", "env": "prod"}}


def _timed(fn: Callable[[], None], rows: int) -> float:
    t0 = time.perf_counter()
    fn()
    return rows / (time.perf_counter() - t0)


def run(db: Database, rows: int) -> dict[str, float]:
    log = AuditLog(db)
    results: dict[str, list[float]] = {}

    def one_txn_append() -> None:
        with db.begin() as conn:
            for i in range(rows):
                log.append(
                    conn,
                    actor="alice",
                    action="decision",
                    command="restart",
                    platform="web",
                    channel="#ops",
                    run_id=i,
                    summary="allowed",
                    detail=DETAIL,
                )

    def one_txn_many() -> None:
        with db.begin() as conn:
            for i in range(0, rows, 4):
                log.append_many(
                    conn,
                    [
                        AuditRecord("alice", a, "restart", "web", "#ops", i, "s", DETAIL)
                        for a in ("received", "decision", "run.started", "run.finished")
                    ],
                )

    def txn_each_append() -> None:
        for i in range(rows):
            with db.begin() as conn:
                log.append(
                    conn,
                    actor="alice",
                    action="decision",
                    command="restart",
                    platform="web",
                    channel="#ops",
                    run_id=i,
                    summary="allowed",
                    detail=DETAIL,
                )

    def txn_each_many() -> None:
        for i in range(0, rows, 4):
            with db.begin() as conn:
                log.append_many(
                    conn,
                    [
                        AuditRecord("alice", a, "restart", "web", "#ops", i, "s", DETAIL)
                        for a in ("received", "decision", "run.started", "run.finished")
                    ],
                )

    cases = {
        "append, in one txn": one_txn_append,
        "append_many x4, in one txn": one_txn_many,
        "append, txn each": txn_each_append,
        "append_many x4, txn each": txn_each_many,
    }
    for _ in range(3):
        for name, fn in cases.items():
            results.setdefault(name, []).append(_timed(fn, rows))
    report = log.verify()
    assert report.ok, report.text()
    return {name: statistics.median(v) for name, v in results.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(create_db_engine(str(Path(tmp) / "bench.db")))
        db.migrate()
        for name, rate in run(db, args.rows).items():
            print(f"sqlite      {name:28s} {rate:10,.0f} rows/s  {1e6 / rate:6.1f} µs/row")
        db.dispose()
    if args.pg == "off":
        return
    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database(create_db_engine(f"{args.pg}?options=-csearch_path%3D{schema}"))
        db.migrate()
        for name, rate in run(db, args.rows // 2).items():
            print(f"postgresql  {name:28s} {rate:10,.0f} rows/s  {1e6 / rate:6.1f} µs/row")
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
