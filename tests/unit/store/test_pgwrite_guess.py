"""On PostgreSQL a writer group starts from what the process's previous group left (the audit
chain's tail) and checks it on the server in its one trip. Another
process writing in between must never show: the chain stays one valid chain, every row is
there, a failing write still fails alone, and run ids stay unique. PostgreSQL only: two
processes share a database only there (SQLite is one process's file)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError
from tests.support.invocations import run_invocation

from opsroom.audit import AuditLog, AuditRecord
from opsroom.store import Database, create_db_engine
from opsroom.store.tables import audit_log, runs

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def other(db: Database, db_url: str) -> Iterator[Database]:
    """Another replica on the same database: its own engine, connections and writer thread."""
    database = Database(create_db_engine(db_url))
    yield database
    database.dispose()


def _append(audit: AuditLog, summary: str) -> Callable[[Connection], str]:
    def write(conn: Connection) -> str:
        audit.append_many(
            conn, [AuditRecord("alice", "a", summary=summary), AuditRecord("alice", "b", summary=summary)]
        )
        return summary

    return write


def _summaries(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(audit_log.c.summary).order_by(audit_log.c.id)).scalars())


async def test_another_replica_appending_between_our_groups_leaves_one_valid_chain(
    db: Database, other: Database
) -> None:
    ours, theirs = AuditLog(db), AuditLog(other)
    for r in range(3):
        await asyncio.gather(*(db.run_write(_append(ours, f"ours{r}.{n}")) for n in range(4)))
        await other.run_write(_append(theirs, f"theirs{r}"))  # between two of our groups
        with other.begin() as conn:  # and outside any writer group
            theirs.append_many(conn, [AuditRecord("bob", "c", summary=f"begin{r}")])
    # Both writers at once, several groups each.
    await asyncio.gather(
        *(db.run_write(_append(ours, f"ours-mixed{n}")) for n in range(10)),
        *(other.run_write(_append(theirs, f"theirs-mixed{n}")) for n in range(10)),
    )
    report = ours.verify()
    assert report.ok, report
    stored = _summaries(db)
    expected = [f"ours{r}.{n}" for r in range(3) for n in range(4)] + [f"theirs{r}" for r in range(3)]
    expected += [f"ours-mixed{n}" for n in range(10)] + [f"theirs-mixed{n}" for n in range(10)]
    assert sorted(stored) == sorted([s for s in expected for _ in "ab"] + [f"begin{r}" for r in range(3)])
    # Each function's two rows are next to each other: nobody wrote inside a group.
    pairs = [s for s in stored if not s.startswith("begin")]
    assert all(pairs[i] == pairs[i + 1] for i in range(0, len(pairs), 2))


async def test_a_failing_write_fails_alone_when_the_group_also_finds_the_chain_moved(
    db: Database, other: Database
) -> None:
    ours, theirs = AuditLog(db), AuditLog(other)
    await db.run_write(_append(ours, "first"))
    await other.run_write(_append(theirs, "theirs"))

    def bad(conn: Connection) -> None:
        ours.append_many(conn, [AuditRecord("bob", "x", summary="bad")])
        conn.execute(insert(runs).values(command="x"))  # NOT NULL columns missing: fails

    results = await asyncio.gather(
        db.run_write(_append(ours, "good1")),
        db.run_write(bad),
        db.run_write(_append(ours, "good2")),
        return_exceptions=True,
    )
    assert results[0] == "good1" and results[2] == "good2"
    assert isinstance(results[1], IntegrityError), results[1]
    assert ours.verify().ok
    assert "bad" not in _summaries(db) and _summaries(db).count("good2") == 2


async def test_run_ids_stay_unique_and_as_returned_with_two_replicas_drawing(db: Database, other: Database) -> None:
    def submit(n: int) -> Callable[[Connection], int]:
        from opsroom.runs import store as run_store

        def write(conn: Connection) -> int:
            return run_store.insert_run(
                conn, run_invocation(n), run_store.RunState.RUNNING, lock_key=None, timeout=5.0, stored_args={}
            )

        return write

    got: dict[int, int] = {}
    for r in range(3):
        batch = [(n, (db if n % 2 else other).run_write(submit(n), new_runs=1)) for n in range(r * 20, r * 20 + 20)]
        for (n, _), run_id in zip(batch, await asyncio.gather(*(w for _, w in batch)), strict=True):
            got[n] = run_id
    with db.read() as conn:
        stored = dict(conn.execute(select(runs.c.command, runs.c.id)).all())
    assert stored == {f"cmd{n}": run_id for n, run_id in got.items()}
    assert len(set(got.values())) == 60
    mine = [got[n] for n in sorted(got) if n % 2]  # one replica's ids follow its own queue
    assert mine == sorted(mine)


async def test_rows_cut_off_the_end_between_our_groups_are_noticed_by_the_next_group(
    db: Database, other: Database
) -> None:
    """The guessed tail is checked on the server, not only trusted until ids collide: when the
    newest rows vanish (someone cut them off), the next group links to the row now newest."""
    ours = AuditLog(db)
    await db.run_write(_append(ours, "kept"))
    await db.run_write(_append(ours, "cut"))
    with other.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.summary == "cut"))
    await asyncio.gather(*(db.run_write(_append(ours, f"after{n}")) for n in range(3)))
    report = ours.verify()
    assert report.ok, report
    assert _summaries(db) == ["kept", "kept"] + [f"after{n}" for n in range(3) for _ in "ab"]


async def test_one_replica_numbers_its_runs_one_after_the_other(db: Database) -> None:
    """Run numbers are what people type (`/approve 2`): one process's runs follow each other
    even when writes without a run come between them (those once drew the pool 64 further on,
    so the second run of a quiet day was run #66)."""
    from opsroom.runs import store as run_store

    def submit(n: int) -> Callable[[Connection], int]:
        def write(conn: Connection) -> int:
            return run_store.insert_run(
                conn, run_invocation(n), run_store.RunState.RUNNING, lock_key=None, timeout=5.0, stored_args={}
            )

        return write

    ours = AuditLog(db)
    numbers = []
    for n in range(3):
        numbers.append(await db.run_write(submit(n), new_runs=1))
        await db.run_write(_append(ours, f"vote{n}"))  # an approval, a cancel: no new run
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]


async def test_submits_after_another_replica_appended_keep_one_chain_and_no_gap_in_run_numbers(
    db: Database, other: Database
) -> None:
    """Submits (a run row and an audit row naming it) in groups with another replica
    appending between them: one valid chain, this process's runs numbered one after the
    other, each run's audit row naming its own run. (Also what a group that draws its run
    ids before the chain's lock and guesses the tail must keep: it reruns with the same ids
    when the guess misses; see docs/performance.md "Wave 8 — pg9".)"""
    from opsroom.runs import store as run_store

    ours, theirs = AuditLog(db), AuditLog(other)

    def submit(n: int) -> Callable[[Connection], int]:
        def write(conn: Connection) -> int:
            run_id = run_store.insert_run(
                conn, run_invocation(n), run_store.RunState.RUNNING, lock_key=None, timeout=5.0, stored_args={}
            )
            ours.append_many(conn, [AuditRecord("alice", "run.started", run_id=run_id, summary=f"sub{n}")])
            return run_id

        return write

    numbers = [await db.run_write(submit(0), new_runs=1)]
    for r in range(1, 4):
        await other.run_write(_append(theirs, f"theirs{r}"))  # our next guess misses
        numbers += await asyncio.gather(*(db.run_write(submit(r * 10 + n), new_runs=1) for n in range(3)))
    assert sorted(numbers) == list(range(numbers[0], numbers[0] + 10))
    report = ours.verify()
    assert report.ok, report
    with db.read() as conn:
        named = dict(
            conn.execute(select(audit_log.c.summary, audit_log.c.run_id).where(audit_log.c.run_id.isnot(None))).all()
        )
        by_command = dict(conn.execute(select(runs.c.command, runs.c.id)).all())
    assert named == {f"sub{n}": by_command[f"cmd{n}"] for n in [0, 10, 11, 12, 20, 21, 22, 30, 31, 32]}
