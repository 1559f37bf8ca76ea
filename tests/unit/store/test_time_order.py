"""Time bounds as id bounds (store/time_order.py, migration 0012_idb_time_order).

On SQLite ``audit_log.ts`` and ``runs.created_at`` have no index: rows are stored in time
order and a time bound becomes an id range. Every reader that bounds those tables by time
must return what a plain scan returns, also over rows written before the migration with a
clock that stepped back (the recorded skew) and rows written after it by a clock that
stepped back (the append and the run INSERT keep the order). Both backends (PostgreSQL
keeps its indexes: the bounds are None there and the results must agree all the same).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from tests.support.migrations import run_step

from opsroom.audit import AuditLog, AuditRecord
from opsroom.audit import log as log_module
from opsroom.audit.chain import prepare_many, ts_text
from opsroom.audit.query import AuditQuery
from opsroom.config.guardrails import RateLimit
from opsroom.core import ArgSpec, CommandSpec, Invocation, Place, RunState
from opsroom.core.identity import Principal
from opsroom.guardrails.ratelimit import RateLimiter
from opsroom.incidents import timeline
from opsroom.incidents.lifecycle import IncidentState
from opsroom.incidents.store import Incident
from opsroom.runs import store as run_store
from opsroom.store import Database, create_db_engine, time_order
from opsroom.store.tables import audit_log, runs
from opsroom.web import stats

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
USERS = ["alice", "bob", "carol"]
CHANNELS = ["#ops", "#war", "#deploys"]


def _run(db: Database, step: str) -> None:
    run_step(db, "0012_idb_time_order.py", step)


class _Clock:
    """``datetime.now`` for the audit append: a time set by the test (it may step back)."""

    at = T0

    @classmethod
    def now(cls, tz: Any = None) -> dt.datetime:
        return cls.at


class _Now(dt.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return _Clock.at


def _old_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """Append as before 0012: each row at its own time, in any order."""
    monkeypatch.setattr(
        log_module, "_in_time_order", lambda entries, now, floor: prepare_many(entries, now, ts_text(now))
    )


def _append(db: Database, log: AuditLog, rng: random.Random, count: int, *, explicit: bool) -> None:
    for _ in range(count):
        _Clock.at += dt.timedelta(minutes=rng.choice([1, 7, 30, 90, -45, -200]))  # steps back too
        user, channel = rng.choice(USERS), rng.choice(CHANNELS)
        own = _Clock.at - dt.timedelta(hours=rng.choice([1, 5])) if explicit and rng.random() < 0.2 else None
        recs = [
            AuditRecord(
                user, "command.received", "deploy", "slack", channel, None, f"deploy {rng.random():.3f}", ts=own
            ),
            AuditRecord(user, rng.choice(["run.started", "decision", "alert.fired"]), "deploy", "slack", channel),
        ]
        with db.begin() as conn:
            log.append_many(conn, recs)


def _insert_runs(db: Database, rng: random.Random, count: int) -> None:
    """Run rows at a clock that steps back, straight into the table (as before 0012)."""
    at = T0
    with db.begin() as conn:
        for i in range(count):
            at += dt.timedelta(minutes=rng.choice([3, 20, 60, -50]))
            conn.execute(
                insert(runs).values(
                    command=rng.choice(["deploy", "restart"]), args={}, raw_text="x", user=rng.choice(USERS),
                    platform="slack", channel="C1", channel_name="#ops", state=rng.choice(["succeeded", "denied"]),
                    created_at=at, started_at=at, finished_at=at + dt.timedelta(seconds=i % 50), extra={},
                )
            )  # fmt: skip


def _invocation() -> Invocation:
    spec = CommandSpec("deploy", args=(ArgSpec("service"),), timeout=300)
    return Invocation(spec, {"service": "api"}, "deploy api", Principal("alice"), Place("slack", "C1", "#ops"), {})


@pytest.fixture
def filled(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, AuditLog]]:
    """Rows from before 0012 out of order (SQLite: written while downgraded, then migrated),
    then rows appended after it with a clock that steps back."""
    rng = random.Random(12)
    sqlite = db.engine.dialect.name == "sqlite"
    monkeypatch.setattr(log_module, "datetime", _Now)
    _Clock.at = T0
    if sqlite:
        _run(db, "downgrade")
    with monkeypatch.context() as old:
        _old_append(old)
        log = AuditLog(db)
        _append(db, log, rng, 150, explicit=True)
    _insert_runs(db, rng, 120)
    if sqlite:
        _run(db, "upgrade")
        with db.read() as conn:
            raw = conn.connection.driver_connection
            assert time_order.skew(raw, "audit_log") > 0 and time_order.skew(raw, "runs") > 0
    log = AuditLog(db)
    _append(db, log, rng, 150, explicit=True)
    monkeypatch.setattr(run_store, "utcnow", lambda: T0)  # far behind the newest run
    with db.begin() as conn:
        for _ in range(5):
            run_store.insert_run(conn, _invocation(), RunState.QUEUED, lock_key=None, timeout=60, stored_args={})
    yield db, log


def _times(db: Database) -> tuple[list[tuple[int, dt.datetime]], list[tuple[int, dt.datetime]]]:
    with db.read() as conn:
        entries = [(int(i), t) for i, t in conn.execute(select(audit_log.c.id, audit_log.c.ts))]
        made = [(int(i), t) for i, t in conn.execute(select(runs.c.id, runs.c.created_at))]
    return entries, made


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time_order, "bounds", lambda conn, table, since=None, until=None: (None, None))


def _moments(db: Database) -> list[dt.datetime]:
    entries, made = _times(db)
    times = sorted({t for _, t in entries} | {t for _, t in made})
    rng = random.Random(5)
    picked = rng.sample(times, 25) + [times[0], times[-1], T0 - dt.timedelta(days=9), T0 + dt.timedelta(days=90)]
    return picked + [t + dt.timedelta(microseconds=1) for t in picked[:5]]


def test_rows_after_the_migration_are_in_time_order(filled: tuple[Database, AuditLog]) -> None:
    db, log = filled
    entries, made = _times(db)
    if db.engine.dialect.name == "sqlite":
        for rows in (sorted(entries)[299:], sorted(made)[119:]):
            times = [t for _, t in rows]
            assert times == sorted(times)
        made_times = [t for _, t in sorted(made)]
        assert made_times[-5:] == [made_times[119]] * 5  # the clock stepped back: the newest run's time
    assert log.verify().ok


def test_search_and_export_equal_a_plain_scan(
    filled: tuple[Database, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, log = filled
    entries, _ = _times(db)
    moments = _moments(db)
    queries = []
    for since in moments[::3]:
        for until in moments[1::4]:
            queries += [AuditQuery(since=since, until=until), AuditQuery(since=since, users=("bob",))]
            queries += [AuditQuery(until=until, words=("deploy",)), AuditQuery(since=since, channels=("#war",))]
    for q in queries:
        found = [e.id for e in log.search(q, limit=1000)]
        expected = sorted(
            (i for i, t in entries if (q.since is None or t >= q.since) and (q.until is None or t < q.until)),
            reverse=True,
        )
        if not (q.users or q.words or q.channels):
            assert found == expected, q
        assert set(found) <= set(expected), q
    bounded = [(q, [e.id for e in log.search(q, limit=1000)], _export(log, q)) for q in queries[:40]]
    _plain(monkeypatch)
    for q, ids, lines in bounded:
        assert [e.id for e in log.search(q, limit=1000)] == ids, q
        assert _export(log, q) == lines, q


def _export(log: AuditLog, q: AuditQuery) -> list[str]:
    return list(log.export_lines(q))


def test_dashboard_timeline_and_rate_limits_equal_a_plain_scan(
    filled: tuple[Database, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = filled
    moments = _moments(db)
    spec = CommandSpec("deploy", timeout=60)
    limiters = [RateLimiter([RateLimit(commands=["deploy", "restart"], per=p, limit=n, window=w)]) for p, n, w in
                [("user", 2, 3600), ("command", 5, 86400), ("user", 50, 7 * 86400)]]  # fmt: skip

    def answers() -> list[Any]:
        out: list[Any] = []
        for now in moments:
            out.append(stats.dashboard(db, days=3, now=now))
            for who in USERS:
                with db.read() as conn:
                    for limiter in limiters:
                        refusal = limiter.check(conn, spec, Principal(who), ["deploy"], now)
                        out.append(None if refusal is None else refusal.retry_at)
        for since, until in zip(moments, moments[3:] + [None, None, None], strict=True):
            for channel, groups in (("#war", ()), ("#ops", (3,))):
                state = IncidentState("open", "sev2", since, since, {} if until is None else {"closed": until})
                incident = Incident(1, "i", "t", "", "", "bob", "slack", "C", channel, None, "", state, groups)
                with db.read() as conn:
                    out.append(timeline._audit_rows(conn, incident))
        return out

    bounded = answers()
    assert any(isinstance(a, dt.datetime) for a in bounded)  # some limits were reached
    _plain(monkeypatch)
    assert answers() == bounded


def test_migration_down_and_up_with_data(filled: tuple[Database, AuditLog]) -> None:
    db, log = filled
    queries = [log.parse(t, now=T0 + dt.timedelta(days=1)) for t in ("since 10h ago", "until 3h ago", "since 20h ago")]
    before = [[e.id for e in log.search(q, limit=1000)] for q in queries]
    sqlite = db.engine.dialect.name == "sqlite"
    for step in ("downgrade", "upgrade", "downgrade", "upgrade"):
        _run(db, step)
        with db.read() as conn:
            names = {ix["name"] for t in ("audit_log", "runs") for ix in conn.dialect.get_indexes(conn, t)}
        time_indexes = {"ix_audit_log_ts", "ix_runs_created_at"} & names
        assert time_indexes == (
            {"ix_audit_log_ts", "ix_runs_created_at"} if step == "downgrade" or not sqlite else set()
        )
        assert [[e.id for e in log.search(q, limit=1000)] for q in queries] == before
    if sqlite:
        with db.read() as conn:
            raw = conn.connection.driver_connection
            assert time_order.skew(raw, "audit_log") > 0  # recorded again from the rows
        with db.begin() as conn:  # an edited time (never done by opsroom): nothing excluded
            conn.exec_driver_sql("UPDATE audit_log SET ts = '2020-01-01 00:00:00.000000' WHERE id = 400")
        with db.read() as conn:
            assert time_order.skew(conn.connection.driver_connection, "audit_log") == time_order.UNKNOWN
            assert time_order.bounds(conn, "audit_log", T0, T0) == (1, 600)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_two_writers_keep_the_order(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two connections (as two processes) append in turn, one with a clock an hour behind."""
    other = Database(create_db_engine(str(db.engine.url)))
    try:
        first, second = AuditLog(db), AuditLog(other)
        monkeypatch.setattr(log_module, "datetime", _Now)
        for i in range(40):
            log, place = (first, db) if i % 3 else (second, other)
            _Clock.at = T0 + dt.timedelta(minutes=i) - (dt.timedelta(hours=1) if log is second else dt.timedelta())
            with place.begin() as conn:
                log.append_many(conn, [AuditRecord("a", "x"), AuditRecord("b", "y", ts=T0 - dt.timedelta(days=1))])
        entries, _ = _times(db)
        times = [t for _, t in sorted(entries)]
        assert times == sorted(times) and len(times) == 80
        assert first.verify().ok
    finally:
        other.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_plans_need_no_time_index(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, [AuditRecord("a", "x") for _ in range(10)])
    with db.read() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")]
        assert "ix_audit_log_ts" not in names and "ix_runs_created_at" not in names
        low, high = time_order.bounds(conn, "audit_log", T0, T0 + dt.timedelta(days=1))
        sql = "SELECT * FROM audit_log WHERE ts >= ? AND ts < ? AND id >= ? AND id <= ? ORDER BY id DESC LIMIT 50"
        args = (time_order.stored_text(T0), time_order.stored_text(T0), low, high)
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, plan
        run_sql = run_store._sqlite_run_plan(conn).sql
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {run_sql}", (None,) * len(run_store._RUN_COLUMNS))
        )
        assert "TEMP" not in plan.upper(), plan  # the newest run read in place, no copy


def test_bounds_on_an_empty_table_and_outside_the_rows(db: Database) -> None:
    with db.read() as conn:
        low, high = time_order.bounds(conn, "audit_log", T0, T0)
    if db.engine.dialect.name == "postgresql":
        assert (low, high) == (None, None)
        return
    assert (low, high) == (1, 0)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, [AuditRecord("a", "x", ts=T0 + dt.timedelta(hours=i)) for i in range(10)])
    with db.read() as conn:
        assert time_order.bounds(conn, "audit_log", T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=5)) == (4, 6)
        assert time_order.bounds(conn, "audit_log", T0 + dt.timedelta(days=3), None) == (11, None)
        assert time_order.bounds(conn, "audit_log", None, T0 - dt.timedelta(days=3)) == (None, 0)
        assert time_order.bounds(conn, "audit_log", dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max) == (1, 10)


def test_id_range_gives_the_clauses_and_whether_ids_are_in_time_order(db: Database) -> None:
    log = AuditLog(db)
    with db.read() as conn:
        assert not time_order.id_range(conn, audit_log, T0).in_order  # nothing to order yet
    with db.begin() as conn:
        log.append_many(conn, [AuditRecord("a", "x", ts=T0 + dt.timedelta(hours=i)) for i in range(10)])
    with db.read() as conn:
        ids = time_order.id_range(conn, audit_log, T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=5))
        found = [r[0] for r in conn.execute(select(audit_log.c.id).where(*ids.clauses).order_by(audit_log.c.id))]
        unbounded = time_order.id_range(conn, audit_log)
    assert unbounded.clauses == [] and not unbounded.in_order
    if db.engine.dialect.name == "postgresql":  # (its time indexes serve: no id clauses)
        assert ids.clauses == [] and not ids.in_order and found == list(range(1, 11))
    else:
        assert found == [4, 5, 6] and ids.in_order
