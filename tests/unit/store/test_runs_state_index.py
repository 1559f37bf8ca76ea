"""ix_runs_state on SQLite leaves out succeeded runs (migration 0011_sqlite_txn): listing runs
by state must give exactly what a plain scan gives, on both backends, SQLite must still
answer the recovery's and the console's state searches from the index rather than reading
the whole table, and a fresh install, an upgraded one and a downgraded one must have the
index they should."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from tests.support.migrations import run_step

from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.store import Database, create_db_engine
from opsroom.store.tables import RUNS_STATE_INDEX_WHERE, metadata, runs

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
USERS = ("alice", "bob", "carol")


def _fill(db: Database, count: int = 240, seed: int = 14) -> list[dict[str, Any]]:
    """Runs in every state, succeeded the most common (as in life)."""
    rng = random.Random(seed)
    states = [RunState.SUCCEEDED] * 12 + list(RunState)
    rows = []
    for i in range(count):
        rows.append(
            {
                "command": rng.choice(("ping", "deploy")),
                "args": {},
                "raw_text": f"ping {i}",
                "user": rng.choice(USERS),
                "platform": "slack",
                "channel": "C1",
                "channel_name": "#ops",
                "state": rng.choice(states).value,
                "fingerprint": "",
                "dry_run": False,
                "created_at": T0 + dt.timedelta(seconds=i),
                "result": "",
                "error": "",
                "output": "",
                "output_truncated": False,
                "timeout": 300.0,
                "extra": {},
            }
        )
    with db.begin() as conn:
        conn.execute(insert(runs), rows)
        stored = conn.execute(select(runs.c.id, runs.c.state, runs.c.user)).all()
    return [{"id": r.id, "state": RunState(r.state), "user": r.user} for r in stored]


ASKED = [
    [RunState.RUNNING, RunState.QUEUED],  # the start-up recovery's search
    *([s] for s in RunState),  # the console's state filter
    [RunState.SUCCEEDED, RunState.FAILED],
    [RunState.AWAITING_APPROVAL, RunState.AWAITING_CONFIRMATION, RunState.DENIED],
]


@pytest.mark.parametrize("states", ASKED, ids=lambda s: "+".join(x.value for x in s))
def test_listing_by_state_is_what_a_scan_finds(db: Database, states: list[RunState]) -> None:
    stored = _fill(db)
    for user in (None, "bob"):
        expected = [r["id"] for r in sorted(stored, key=lambda r: -r["id"]) if r["state"] in states]
        if user:
            expected = [i for i in expected if next(r for r in stored if r["id"] == i)["user"] == user]
        with db.read() as conn:
            everything = [r.id for r in run_store.list_runs(conn, limit=10_000, states=states, user=user)]
            assert everything == expected
            # paged as the console pages (newest first, before the last id seen)
            paged: list[int] = []
            before = None
            while True:
                page = run_store.list_runs(conn, limit=7, states=states, user=user, before_id=before)
                paged += [r.id for r in page]
                if len(page) < 7:
                    break
                before = page[-1].id
            assert paged == expected
            assert all(r.state in states for r in run_store.list_runs(conn, limit=50, states=states))


def _plans(db: Database, states: list[RunState]) -> list[str]:
    """SQLite's plan for the statement ``list_runs`` sends."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        sent.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.read() as conn:
            run_store.list_runs(conn, limit=50, states=states, before_id=10_000)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    ((statement, params),) = sent
    with db.read() as conn:
        return [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Any:
    database = Database(create_db_engine(f"sqlite:///{tmp_path / 'opsroom.db'}"))
    database.migrate()
    yield database
    database.dispose()


@pytest.mark.parametrize("states", [s for s in ASKED if RunState.SUCCEEDED not in s], ids=str)
def test_sqlite_searches_other_states_through_the_index(sqlite_db: Database, states: list[RunState]) -> None:
    _fill(sqlite_db)
    plans = _plans(sqlite_db, states)
    assert any("USING INDEX ix_runs_state" in p for p in plans), plans


def _index_sql(db: Database) -> str:
    with db.read() as conn:
        return str(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_runs_state'").scalar())


def test_fresh_and_migrated_sqlite_files_have_the_same_partial_index(sqlite_db: Database, tmp_path: Path) -> None:
    fresh = Database(create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}"))
    try:
        metadata.create_all(fresh.engine)
        assert _index_sql(fresh).endswith(f"WHERE {RUNS_STATE_INDEX_WHERE}")
    finally:
        fresh.dispose()
    assert _index_sql(sqlite_db) == "CREATE INDEX ix_runs_state ON runs (state) WHERE state != 'succeeded'"
    assert f"'{RunState.SUCCEEDED.value}'" in RUNS_STATE_INDEX_WHERE


def _run(db: Database, step: str) -> None:
    run_step(db, "0011_sqlite_txn.py", step)


def _state_index(db: Database) -> list[tuple[Any, ...]]:
    """ix_runs_state as the backend reports it: columns, unique, the partial index's condition."""
    with db.read() as conn:
        found = [ix for ix in conn.dialect.get_indexes(conn, "runs") if ix["name"] == "ix_runs_state"]
    return [
        (ix["column_names"], bool(ix["unique"]), str(ix.get("dialect_options", {}).get("sqlite_where"))) for ix in found
    ]


def test_migration_downgrades_and_upgrades_again(db: Database) -> None:
    stored = _fill(db, count=60)
    failed = sorted((r["id"] for r in stored if r["state"] == RunState.FAILED), reverse=True)
    before = _state_index(db)
    assert [ix[:2] for ix in before] == [(["state"], False)]
    _run(db, "downgrade")
    assert [ix[:2] for ix in _state_index(db)] == [(["state"], False)]
    if db.engine.dialect.name == "sqlite":
        assert _index_sql(db) == "CREATE INDEX ix_runs_state ON runs (state)"
    with db.read() as conn:
        assert [r.id for r in run_store.list_runs(conn, limit=500, states=[RunState.FAILED])] == failed
    _run(db, "upgrade")
    assert _state_index(db) == before
    if db.engine.dialect.name == "sqlite":
        assert _index_sql(db).endswith(f"WHERE {RUNS_STATE_INDEX_WHERE}")
    with db.read() as conn:
        assert [r.id for r in run_store.list_runs(conn, limit=500, states=[RunState.FAILED])] == failed
