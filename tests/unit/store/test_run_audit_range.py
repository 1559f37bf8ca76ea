"""Reading a run's audit rows over the id range its run row records (store/run_audit.py,
migration 0013_one13_run_audit_range).

On SQLite ``audit_log.run_id`` has no index: a read by run scans the id range between the
run's first and last audit row. Every such read must return exactly what a plain scan
``WHERE run_id = ?`` returns: for runs written before the migration, runs whose rows
interleave with other runs' rows, runs still in flight, rows written for a run after it
ended (a cancel, an approval, recovery after a crash: any writer, through the table's
trigger), rows written before their run row existed, and ids no run has. PostgreSQL keeps
its index; the results must agree there all the same.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import insert, select
from tests.support.migrations import run_step

from opsroom.audit import AuditLog, AuditRecord
from opsroom.core import ArgSpec, CommandSpec, Invocation, Place, RunState
from opsroom.core.identity import Principal
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store
from opsroom.store import Database, create_db_engine, run_audit
from opsroom.store.tables import audit_log, runs

ORPHAN = 1_000_000  # a run id no run has
_OLD_RUN = {
    "command": "deploy", "args": {}, "raw_text": "deploy api", "platform": "slack", "channel": "C1",
    "channel_name": "#ops", "state": "running", "fingerprint": "", "dry_run": False,
    "created_at": dt.datetime.now(dt.UTC), "result": "", "error": "", "output": "", "output_truncated": False,
    "timeout": 60, "extra": {},
}  # fmt: skip


def _run(db: Database, step: str) -> None:
    run_step(db, "0013_one13_run_audit_range.py", step)


def _invocation(user: str) -> Invocation:
    spec = CommandSpec("deploy", args=(ArgSpec("service"),), timeout=300)
    return Invocation(spec, {"service": "api"}, "deploy api", Principal(user), Place("slack", "C1", "#ops"), {})


def _new_run(db: Database, log: AuditLog, user: str, *, old: bool = False, guess_off: int = 0) -> int:
    """A run row and its first audit rows, in one transaction, as the engine writes them:
    the run row records the ids its rows will likely get (``guess_off``: a guess that
    missed, as after another process appended); ``old``: as before 0013 (no range)."""
    with db.begin() as conn:
        if old:
            run_id = int(conn.execute(insert(runs).values({**_OLD_RUN, "user": user})).inserted_primary_key[0])
            guessed = None
        else:
            first = log.next_id_guess()
            guessed = None if first is None else (first + guess_off, first + guess_off + 1)
            inv = _invocation(user)
            run_id = run_store.insert_run(
                conn, inv, RunState.RUNNING, lock_key=None, timeout=60, stored_args={}, audit_range=guessed
            )
        rows = [
            AuditRecord(user, "command.received", "deploy", run_id=run_id),
            AuditRecord(user, "decision", run_id=run_id),
        ]
        log.append_many(conn, rows, covered=None if guessed is None else (run_id, *guessed))
    return run_id


def _step(db: Database, log: AuditLog, run_id: int | None, action: str = "run.output") -> None:
    with db.begin() as conn:
        log.append_many(conn, [AuditRecord("bob", action, "deploy", run_id=run_id), AuditRecord("bob", "unrelated")])


def _end(db: Database, log: AuditLog, run_id: int) -> None:
    """A run's end as the engine writes it (runs/lifecycle.py: its row and its audit row)."""
    record = AuditRecord("bob", "run.finished", "deploy", run_id=run_id, summary=f"run #{run_id} succeeded")
    with db.begin() as conn:
        lifecycle.move(conn, run_id, RunState.RUNNING, RunState.SUCCEEDED, audit=log, record=record, exit_code=0)


def _interleaved(db: Database, log: AuditLog, rng: random.Random, count: int, *, moves: bool = True) -> list[int]:
    """``count`` runs, up to three in flight at once, their rows between each other's.
    ``moves``: written by this code (else as before 0013)."""
    made: list[int] = []
    open_runs: list[int] = []
    while len(made) < count or open_runs:
        if len(made) < count and (len(open_runs) < 3 and rng.random() < 0.5 or not open_runs):
            off = rng.choice([0, 0, 0, -1, 1, 5])  # mostly right, as in one process
            run_id = _new_run(db, log, rng.choice(["alice", "bob", "carol"]), old=not moves, guess_off=off)
            made.append(run_id)
            open_runs.append(run_id)
            continue
        run_id = rng.choice(open_runs)
        if rng.random() < 0.3:
            open_runs.remove(run_id)
            if moves:
                _end(db, log, run_id)
            else:  # (before 0013: the run row has no audit_last to write)
                _step(db, log, run_id, "run.finished")
        else:
            _step(db, log, run_id)
    return made


def _plain(db: Database, run_id: int) -> list[int]:
    with db.read() as conn:
        rows = conn.execute(select(audit_log.c.id).where(audit_log.c.run_id == run_id).order_by(audit_log.c.id))
        return [int(r[0]) for r in rows]


def _ranges(db: Database) -> dict[int, tuple[int | None, int | None]]:
    with db.read() as conn:
        rows = conn.execute(select(runs.c.id, runs.c.audit_first, runs.c.audit_last))
        return {int(i): (lo, hi) for i, lo, hi in rows}


def _orphans(db: Database) -> set[int]:
    with db.read() as conn:
        return {int(r) for (r,) in conn.exec_driver_sql("SELECT run_id FROM audit_run_orphans")}


@pytest.fixture
def written(db: Database, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, AuditLog, list[int]]:
    """Runs from before the migration (SQLite: written while downgraded, then migrated) and
    after it, interleaved, with late rows, rows before their run, and a run still in flight."""
    rng = random.Random(13)
    sqlite = db.engine.dialect.name == "sqlite"
    log = AuditLog(db)
    if sqlite:
        _run(db, "downgrade")
    with monkeypatch.context() as old:  # written as before 0013: no ranges kept
        old.setattr(run_audit, "widen", lambda *args: None)
        before = _interleaved(db, log, rng, 12, moves=False)
    if sqlite:
        _run(db, "upgrade")
        log = AuditLog(db)
    after = _interleaved(db, log, rng, 12)
    # Late rows: a cancel, an approval, a recovery note, long after each run ended.
    for run_id, action in (
        (before[2], "run.cancelled"),
        (after[1], "approval.granted"),
        (before[0], "run.interrupted"),
    ):
        _step(db, log, run_id, action)
    # Rows for an id no run has, and for the next run before its row exists.
    _step(db, log, ORPHAN)
    with db.read() as conn:
        next_id = int(conn.execute(select(runs.c.id).order_by(runs.c.id.desc()).limit(1)).scalar_one()) + 1
    _step(db, log, next_id, "approval.requested")
    early = _new_run(db, log, "dave")
    assert early == next_id
    in_flight = _new_run(db, log, "erin")  # never ends
    _step(db, log, in_flight)
    _step(db, log, None)
    return db, log, [*before, *after, early, in_flight]


def test_reads_by_run_equal_a_plain_scan(written: tuple[Database, AuditLog, list[int]]) -> None:
    db, log, made = written
    for run_id in [*made, ORPHAN, 0, 999, 2**40]:
        expected = _plain(db, run_id)
        assert [e.id for e in log.for_run(run_id)] == expected, run_id
        newest_first = log.search(log.parse(f"run:{run_id}"), limit=1000)
        assert [e.id for e in newest_first] == expected[::-1], run_id
        assert all(e.run_id == run_id for e in newest_first)
    pair = log.search(log.parse(f"run:{made[3]} run:{made[-5]} run:{ORPHAN} user:bob"), limit=1000)
    either = sorted(_plain(db, made[3]) + _plain(db, made[-5]) + _plain(db, ORPHAN))
    assert [e.id for e in pair] == [e.id for e in log.search(log.parse("user:bob"), limit=1000) if e.id in either]
    assert [e.id for e in log.search(log.parse(f"run:{made[0]} action:decision"), limit=1000)] == [
        e.id for e in log.for_run(made[0]) if e.action == "decision"
    ][::-1]


def test_sqlite_ranges_are_tight_and_survive_down_and_up(written: tuple[Database, AuditLog, list[int]]) -> None:
    db, log, made = written
    sqlite = db.engine.dialect.name == "sqlite"
    expected = {run_id: _plain(db, run_id) for run_id in made}
    if sqlite:  # the run whose first row came before its run row: read by a whole scan
        assert _orphans(db) == {ORPHAN, made[-2]}
        # Kept as the rows came (appends, late rows, moves): each run's first and last, or
        # wider by at most what a missed guess of the run's first ids recorded.
        for run_id, ids in expected.items():
            low, high = _ranges(db)[run_id]
            if run_id != made[-2]:
                assert low is not None and high is not None and low <= ids[0] and ids[-1] <= high, run_id
                assert ids[0] - low <= 1 and high - ids[-1] <= 6, run_id
    for step in ("downgrade", "upgrade", "downgrade", "upgrade"):
        _run(db, step)
        with db.read() as conn:
            names = {ix["name"] for ix in conn.dialect.get_indexes(conn, "audit_log")}
        assert ("ix_audit_log_run_id" in names) == (step == "downgrade" or not sqlite)
        if step == "upgrade":  # (this code reads the schema it migrates to)
            assert {r: [e.id for e in log.for_run(r)] for r in made} == expected
    if not sqlite:
        return
    ranges = _ranges(db)
    assert _orphans(db) == {ORPHAN}  # the migration found the range of the run that exists now
    assert all(ranges[r] == (ids[0], ids[-1]) for r, ids in expected.items())
    # A row moved to another run (never done by opsroom; tampering) is still found.
    with db.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.id == expected[made[0]][0]).values(run_id=made[5]))
    assert [e.id for e in log.for_run(made[5])] == _plain(db, made[5])
    assert [e.id for e in log.for_run(made[0])] == _plain(db, made[0])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_reads_a_run_over_the_primary_key(db: Database) -> None:
    log = AuditLog(db)
    made = _interleaved(db, log, random.Random(7), 6)
    with db.read() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")]
        assert "ix_audit_log_run_id" not in names
        for ids in ([made[2]], [made[1], made[4]]):
            stmt = select(audit_log).where(audit_log.c.id > 0, run_audit.by_runs(ids)).order_by(audit_log.c.id)
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, plan
            assert "SCAN audit_log" not in plan, plan


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_file_made_by_create_all_keeps_ranges_too(db_url: str) -> None:
    fresh = Database(create_db_engine(db_url))
    try:
        fresh.create_all()
        log = AuditLog(fresh)
        made = _interleaved(fresh, log, random.Random(3), 5)
        _step(fresh, log, ORPHAN)
        for run_id in [*made, ORPHAN]:
            assert [e.id for e in log.for_run(run_id)] == _plain(fresh, run_id)
        with fresh.read() as conn:
            first = conn.execute(select(runs.c.audit_first).where(runs.c.id == made[0])).scalar_one()
        assert first == _plain(fresh, made[0])[0]
    finally:
        fresh.dispose()
