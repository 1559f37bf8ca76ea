"""Audit search latency at 10k / 100k / 1M entries, SQLite and PostgreSQL.

    .venv/bin/python bench/audit.py                       # 10k, 100k, 1M on both backends
    .venv/bin/python bench/audit.py --sizes 10000,100000 --pg off
    .venv/bin/python bench/audit.py --verbose             # also each query's median

Rows are realistic (200 users, 30 commands, 40 channels, the engine's actions, summaries and
details as the engine writes them, a year of timestamps ending now) and correctly
hash-chained, written with bulk inserts (executemany on SQLite, COPY on PostgreSQL) through
the real migrated schema. Each size runs the same mix of searches, each through
``AuditLog.search`` (parsing included), newest 50, several rounds; p50/p95 are over every
search of the mix. Append cost is bench/audit_append.py. On PostgreSQL migrated to
0011_pg_search_side the bulk-loaded rows are copied to ``audit_search`` in one statement
before the searches (what the write path's filler does in batches), so the searches run on a
caught-up side table as on a server that has been writing.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

from opsroom.audit import AuditLog
from opsroom.audit.chain import ZERO_HASH, AuditRecord, entry_hash, prepare, ts_text
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database, create_db_engine

USERS = ["alice", "bob", "carol", "dave", "erin"] + [f"user{i:03d}" for i in range(195)]
COMMANDS = ["deploy", "rollback", "restart", "scale", "status", "logs", "query", "help", "runs", "audit"] + [
    f"job{i}" for i in range(20)
]
CHANNELS = ["#ops", "#payments", "#war-room", "#deploys", "#leads", "dm", ""] + [f"#team{i}" for i in range(33)]
SERVICES = ["api-gateway", "payments", "checkout", "search", "auth", "billing", "ledger", "notifications"]
ENVS = ["dev", "staging", "production"]
YEAR = timedelta(days=365)


def rows(rng: random.Random, start_id: int, count: int, end: datetime, total: int) -> Iterator[tuple[Any, ...]]:
    """``count`` entries after ``start_id``: each command gives received, decision and, when
    allowed, run.started and run.finished; timestamps rise evenly across the year to ``end``."""
    written = 0
    run_id = start_id // 4 + 1
    while written < count:
        user = USERS[min(int(rng.paretovariate(1.2)) - 1, len(USERS) - 1)]
        command = rng.choice(COMMANDS)
        service, env = rng.choice(SERVICES), rng.choice(ENVS)
        channel = rng.choice(CHANNELS)
        text_typed = f"/{command} {service} {env} version=v4.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        allowed = rng.random() < 0.85
        steps: list[tuple[str, str, dict[str, Any], int | None]] = [
            (
                "command.received",
                text_typed,
                {"text": text_typed, "parsed": f"{command} env={env} service={service}"},
                run_id,
            ),
            (
                "decision",
                "allowed" if allowed else f"denied: {user} may not run {command} in {channel or 'dm'}",
                {"allowed": allowed, "rules": ["sre-operates-everywhere"] if allowed else []},
                run_id,
            ),
        ]
        if allowed:
            outcome = rng.choice(["succeeded"] * 8 + ["failed", "timed_out"])
            tail = (
                "disk full on /var"
                if outcome == "failed" and rng.random() < 0.1
                else f"exit {0 if outcome == 'succeeded' else 1}"
            )
            steps.append(("run.started", f"run #{run_id} started", {}, run_id))
            steps.append(
                (f"run.{outcome}" if outcome != "succeeded" else "run.finished", tail, {"state": outcome}, run_id)
            )
        for action, summary, detail, rid in steps:
            if written == count:
                return
            position = start_id + written + 1
            ts = end - YEAR + YEAR * (position / total)
            yield (user, action, command, "slack", channel, rid, summary, detail, ts)
            written += 1
        run_id += 1


# The rows past audit_search's mark, copied in one statement (opsroom.audit.pgtext's fill).
_COPY_SIDE = (
    "INSERT INTO audit_search (id, search_text) SELECT id, summary || E'\\x1f' || command || E'\\x1f' || "
    "CAST(detail AS TEXT) FROM audit_log WHERE id > (SELECT coalesce(max(id), 0) FROM audit_search)"
)


def _side_table(db: Database) -> bool:
    """Whether the database has audit_search (the branch's migration; main's has none)."""
    with db.read() as conn:
        return conn.execute(text("SELECT to_regclass('audit_search')")).scalar() is not None


def fill(db: Database, upto: int, total: int, end: datetime, rng: random.Random) -> None:
    """Grow the log to ``upto`` rows with a valid chain, in bulk."""
    with db.read() as conn:
        head = conn.execute(text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")).first()
    last_id, last_hash = (int(head[0]), head[1]) if head else (0, ZERO_HASH)
    postgres = db.engine.dialect.name == "postgresql"
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            if postgres:
                with cur.copy(
                    "COPY audit_log (id, ts, actor, action, command, platform, channel, run_id, "  # type: ignore[attr-defined]
                    "summary, detail, prev_hash, hash) FROM STDIN"
                ) as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                cur.execute("BEGIN")
                cur.executemany(
                    "INSERT INTO audit_log (id, ts, actor, action, command, platform, channel, run_id, "
                    "summary, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    batch,
                )
            raw.commit()
        finally:
            raw.close()
        batch.clear()

    now = datetime.now(UTC)
    for actor, action, command, platform, channel, rid, summary, detail, ts in rows(
        rng, last_id, upto - last_id, end, total
    ):
        prepared = prepare(
            AuditRecord(actor, action, command, platform, channel, rid, summary, detail, ts), now, ts_text(now)
        )
        last_id += 1
        digest = entry_hash(last_id, prepared[1], *prepared[2:], last_hash)
        stored_ts = prepared[0] if postgres else f"{prepared[1][:10]} {prepared[1][11:26]}"
        batch.append((last_id, stored_ts, *prepared[2:], last_hash, digest))
        last_hash = digest
        if len(batch) == 20_000:
            flush()
    if batch:
        flush()
    if postgres:
        tables = ["audit_log"]
        if _side_table(db):  # 0011_pg_search_side: copied as the write path's filler would
            with db.engine.begin() as conn:
                conn.execute(text("SELECT set_config('maintenance_work_mem', '256MB', true)"))
                conn.exec_driver_sql(_COPY_SIDE)
            tables.append("audit_search")
        # As autovacuum leaves a table after a bulk load: visibility map set, the trigram
        # index's pending list merged, statistics.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f"VACUUM ANALYZE {table}"))
        return
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


QUERIES = [
    "deploy",
    '"disk full"',
    "v4.12.3",
    "user:alice",
    "command:rollback",
    "channel:#payments",
    "action:decision",
    "since 2h ago",
    "since last tuesday",
    "rollback user:bob since last month",
    "payments channel:#ops since yesterday",
    "run:12345",
    "user:carol command:restart until 2026-06-01",
    '"api-gateway" action:run since last week',
    "zzz-no-such-word",
    "denied user:dave",
    "production user:erin channel:#war-room",
    "checkout failed since 30 days ago",
]
# The same searches by someone who reads a handful of channels (the visibility filter).
SCOPED = ["deploy", "since yesterday", "user:alice", "denied", "channel:#leads"]
BOB = AuditScope(
    "bob",
    readable=frozenset({"ops", "deploys", "team1"}),
    configured=frozenset(c.lstrip("#") for c in CHANNELS if c not in ("", "dm")),
)


def measure(log: AuditLog, rounds: int, verbose: bool) -> tuple[float, float]:
    samples: list[float] = []
    per_query: dict[str, list[float]] = {}
    cases: list[tuple[str, AuditScope | None]] = [(q, None) for q in QUERIES] + [(q, BOB) for q in SCOPED]
    for q, scope in cases:  # warm-up: caches, dateparser, planner
        log.search(q, limit=50, scope=scope)
    # As the server does once started (app.py): what is built so far stays out of the
    # collector's full passes, which otherwise stall one search in 50-100 ms after the
    # migration's imports (a pause that lands on whichever search allocates at that moment).
    gc.collect()
    gc.freeze()
    for _ in range(rounds):
        for q, scope in cases:
            t0 = time.perf_counter()
            log.search(q, limit=50, scope=scope)
            took = (time.perf_counter() - t0) * 1000
            samples.append(took)
            per_query.setdefault(("bob: " if scope else "") + q, []).append(took)
    if verbose:
        for q, times in per_query.items():
            ranked = sorted(times)
            p95 = ranked[min(len(ranked) - 1, int(len(ranked) * 0.95))]
            print(f"      {statistics.median(times):8.2f} ms  {q}  (p95 {p95:.2f})")
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar() or 0)


def explain(db: Database, query: str, scope: AuditScope | None) -> None:
    """Print each SELECT one search sends with PostgreSQL's EXPLAIN (ANALYZE, BUFFERS)."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM audit_" in statement:
            sent.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        AuditLog(db).search(query, limit=50, scope=scope)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in sent:
            print("--", " ".join(statement.split())[:300])
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            for (line,) in cur.fetchall():
                print("   ", line)
    finally:
        raw.close()


def run(db: Database, label: str, sizes: list[int], rounds: int, verbose: bool, kept: bool = False) -> None:
    rng = random.Random(11)
    end = datetime.now(UTC)
    log = AuditLog(db)
    for size in sizes:
        t0 = time.perf_counter()
        if kept and _count(db) >= size:
            pass  # a kept schema already this size: the same rows and statistics as last time
        else:
            fill(db, size, sizes[-1], end, rng)
        built = time.perf_counter() - t0
        p50, p95 = measure(log, rounds, verbose)
        print(
            f"{label:<11} {size:>9,} rows  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  "
            f"({len(QUERIES) + len(SCOPED)} searches x {rounds}; filled in {built:.1f} s)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument(
        "--schema",
        help="PostgreSQL: fill this schema (made if missing) and keep it; a later run with the same "
        "schema and size measures the same rows and planner statistics again without filling",
    )
    ap.add_argument("--analyze", action="store_true", help="with --schema: ANALYZE again first (a new sample)")
    ap.add_argument("--explain", metavar="SEARCH", help="with --schema: EXPLAIN (ANALYZE, BUFFERS) one search and stop")
    ap.add_argument("--bob", action="store_true", help="with --explain: as bob (the visibility scope)")
    ap.add_argument(
        "--pg-options", default="", help="with --schema: more libpq options, e.g. -cplan_cache_mode=force_custom_plan"
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.pg_only:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(create_db_engine(str(Path(tmp) / "bench.db")))
            db.migrate()
            run(db, "sqlite", sizes, args.rounds, args.verbose)
            db.dispose()
    if args.pg == "off" or args.sqlite_only:
        return
    if args.schema:
        kept(args, sizes)
        return
    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database(create_db_engine(f"{args.pg}?options=-csearch_path%3D{schema}"))
        db.migrate()
        run(db, "postgresql", sizes, args.rounds, args.verbose)
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def kept(args: argparse.Namespace, sizes: list[int]) -> None:
    """A named schema, kept between runs (so two checkouts can be compared on one fill)."""
    if not args.schema.isidentifier():
        raise SystemExit("--schema: letters, digits and _ only")
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{args.schema}"'))
    admin.dispose()
    options = f"-csearch_path={args.schema} {args.pg_options}".strip()
    db = Database(create_db_engine(f"{args.pg}?options={quote(options)}"))
    try:
        db.migrate()
        if args.analyze:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("audit_log", "audit_search"):
                    conn.execute(text(f"ANALYZE {table}"))
        if args.explain:
            explain(db, args.explain, BOB if args.bob else None)
            return
        run(db, "postgresql", sizes, args.rounds, args.verbose, kept=True)
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
