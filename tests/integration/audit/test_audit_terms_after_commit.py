"""audit_terms' write-path fill inside ``db.write()`` blocks runs after the shared commit, in
a transaction of its own (``store.db.after_commit``): the high-water mark stays exact, a
failing block or a failing fill loses nothing else, and the kept writer is left as it was."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from opsroom.audit import AuditLog, AuditRecord, terms
from opsroom.store import Database, create_db_engine
from opsroom.store.db import after_commit

ACTORS = ["alice", "Alice", "bob", "Élise", "ÉLISE", "straße", "İsmail", "carol"]
COMMANDS = ["deploy", "Deploy", "rollback", "", "Ünlock"]
CHANNELS = ["#ops", "OPS", "#war-room", "", "#Élan", "élan"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite file: audit_terms and ``after_commit`` are SQLite's (PostgreSQL keeps
    its ``lower()`` indexes and commits on writer threads)."""
    database = Database(create_db_engine(f"sqlite:///{tmp_path / 'opsroom.db'}"))
    database.migrate()
    yield database
    database.dispose()


def _record(rng: random.Random) -> AuditRecord:
    return AuditRecord(
        rng.choice(ACTORS), "command.received", rng.choice(COMMANDS), "web", rng.choice(CHANNELS), None, "s", None, None
    )


async def _commands(db: Database, log: AuditLog, rng: random.Random, n: int, fail_every: int = 0) -> int:
    """``n`` write blocks of 1–3 audit rows, 20 at a time (shared commits); every
    ``fail_every``-th block raises after appending. Returns how many blocks failed."""
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        try:
            async with db.write() as conn:
                log.append_many(conn, [_record(rng) for _ in range(rng.randint(1, 3))])
                if fail_every and i % fail_every == 0:
                    raise ValueError("this block fails")
        except ValueError:
            failed += 1

    for start in range(0, n, 20):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 20))))
    return failed


def _mark_is_exact(db: Database) -> int:
    """Every row up to the mark has exactly its three entries (SQLite's own lower()), and no
    row above it has any; returns the mark."""
    with db.read() as conn:
        mark = int(conn.execute(text("SELECT id FROM audit_terms WHERE field = 0")).scalar_one())
        have = {tuple(r) for r in conn.execute(text("SELECT field, value, id FROM audit_terms WHERE field > 0"))}
        want = {
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT 1, lower(actor), id FROM audit_log WHERE id <= :m UNION ALL "
                    "SELECT 2, lower(command), id FROM audit_log WHERE id <= :m UNION ALL "
                    "SELECT 3, lower(channel), id FROM audit_log WHERE id <= :m"
                ),
                {"m": mark},
            )
        }
    assert have == want
    return mark


def _temp_store(db: Database) -> int:
    with db.begin() as conn:  # (the kept writer when it is free)
        return int(conn.exec_driver_sql("PRAGMA temp_store").scalar_one())


async def test_blocks_fill_after_their_commit_and_the_mark_stays_exact(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terms, "FILL_EVERY", 25)
    log = AuditLog(db)
    failed = await _commands(db, log, random.Random(3), 300, fail_every=7)
    assert failed == 300 // 7 + 1
    mark = _mark_is_exact(db)
    with db.read() as conn:
        top = int(conn.execute(text("SELECT max(id) FROM audit_log")).scalar_one())
    assert top - 25 - 3 * 20 <= mark <= top  # filled as the rows came, not only by searches
    assert _temp_store(db) == 0  # temp_store=MEMORY was for the fill's own transaction only


async def test_a_failing_fill_fails_no_command_and_is_caught_up_later(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terms, "FILL_EVERY", 10)
    log = AuditLog(db)
    real_fill = terms.fill

    def broken(conn: Any, most: int | None = None) -> int:
        real_fill(conn, most)  # its writes are rolled back with its transaction
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(terms, "fill", broken)
    assert await _commands(db, log, random.Random(4), 60) == 0
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() >= 60
        assert conn.execute(text("SELECT count(*) FROM audit_terms")).scalar_one() == 1  # the mark only
    assert _mark_is_exact(db) == 0
    assert _temp_store(db) == 0
    monkeypatch.setattr(terms, "fill", real_fill)
    await _commands(db, log, random.Random(5), 40)
    assert _mark_is_exact(db) > 0
    assert log.verify().ok


async def test_after_commit_runs_once_per_group_and_only_after_a_commit(db: Database) -> None:
    ran: list[int] = []

    def work(conn: Any) -> None:
        assert not conn.connection.driver_connection.in_transaction  # the group's is over
        ran.append(1)

    with db.begin() as conn:  # no shared transaction: nothing is scheduled
        assert after_commit(conn, work) is False

    async def block(fail: bool = False) -> None:
        async with db.write() as conn:
            assert after_commit(conn, work) is True
            if fail:
                raise ValueError("first block fails: the group is abandoned")

    await asyncio.gather(block(), block(), block())
    assert ran == [1]  # the same work, asked three times in one group
    with pytest.raises(ValueError):
        await block(fail=True)
    assert ran == [1]  # rolled back: nothing ran
