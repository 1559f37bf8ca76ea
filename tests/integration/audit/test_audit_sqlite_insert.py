"""SQLite's guarded audit INSERT (audit/log.py ``_SQLITE_INSERT``): the same stored bytes and
the same decisions as the ``INSERT … SELECT … WHERE`` it replaced (Wave 9 — guard).

The old statement is rebuilt here from its SQLAlchemy expression, as log.py had it."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Integer, String, Text, bindparam, func, insert, literal_column, select

from opsroom.audit import ZERO_HASH, AuditLog, AuditRecord
from opsroom.audit import log as audit_module
from opsroom.audit.chain import prepare_many, ts_text
from opsroom.audit.log import AuditChainError
from opsroom.store import Database, create_db_engine
from opsroom.store.tables import audit_log

COLUMNS = audit_module._COLUMNS


def _old_statement(db: Database) -> tuple[str, list[str]]:
    """The replaced ``INSERT … SELECT <row> WHERE <predecessor is the newest, with our
    prev_hash>`` as ``?`` SQL, and the column each placeholder takes."""
    t = audit_log
    types: dict[str, Any] = {"id": Integer(), "run_id": BigInteger(), "summary": Text(), "detail": Text()}
    row = select(*(bindparam(c, type_=types.get(c, String())) for c in COLUMNS))
    prev_id = bindparam("id", type_=Integer()) - literal_column("1")
    newest = select(func.max(t.c.id)).scalar_subquery()
    prev_hash = select(t.c.hash).where(t.c.id == prev_id).scalar_subquery()
    guarded = row.where(
        func.coalesce(newest, literal_column("0")) == prev_id,
        func.coalesce(prev_hash, literal_column(f"'{ZERO_HASH}'")) == bindparam("prev_hash", type_=String()),
    )
    compiled = insert(t).from_select(COLUMNS, guarded).compile(dialect=db.engine.dialect)
    return str(compiled), list(compiled.positiontup or [])


def _migrated(path: Path) -> tuple[Database, sqlite3.Connection]:
    db = Database(create_db_engine(f"sqlite:///{path}"))
    db.migrate()
    return db, sqlite3.connect(path, isolation_level=None)


def _records() -> list[AuditRecord]:
    ts = datetime(2026, 12, 5, 2, 0, 0, 0, tzinfo=UTC)
    return [
        AuditRecord("alice", "received", "deploy", "slack", "#ops", 42, "/deploy api", {"args": {"v": "1.2"}}, ts),
        AuditRecord("Bößé 🚀", "decision", "", "", "", None, "", {}, None),
        AuditRecord("bob", "run.finished", "x" * 100, "bench", "#c", 2**62, "ünïcode\n'quoted'", {"n": [1, 2.5, None]}),
        AuditRecord("carol", "a", run_id=0, summary="0", detail={"nested": {"deep": "\u0000 nul"}}),
    ]


def _rows(tail: tuple[int, str]) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    now = datetime.now(UTC)
    prepared = prepare_many(_records(), now, ts_text(now))
    return audit_module._link(prepared, tail, sqlite=True)


def _stored(raw: sqlite3.Connection) -> list[tuple[Any, ...]]:
    cells = ", ".join(f"typeof({c}), quote({c})" for c in COLUMNS)
    return raw.execute(f"SELECT {cells} FROM audit_log ORDER BY id").fetchall()  # noqa: S608


def _insert_old(raw: sqlite3.Connection, sql: str, names: list[str], row: tuple[Any, ...]) -> int:
    return raw.execute(sql, [row[COLUMNS.index(n)] for n in names]).rowcount


def _insert_new(raw: sqlite3.Connection, row: tuple[Any, ...]) -> int:
    try:
        return raw.execute(audit_module._SQLITE_INSERT, row).rowcount
    except sqlite3.IntegrityError as err:
        assert "audit_log.hash" in str(err)
        return 0


def test_the_new_insert_stores_the_bytes_the_old_one_stored(tmp_path: Path) -> None:
    old_db, old = _migrated(tmp_path / "old.db")
    new_db, new = _migrated(tmp_path / "new.db")
    sql, names = _old_statement(old_db)
    tail = (0, ZERO_HASH)
    for _ in range(3):  # the empty table's first row, then rows after a tail
        rows, tail = _rows(tail)
        old.execute("BEGIN IMMEDIATE")
        new.execute("BEGIN IMMEDIATE")
        assert [_insert_old(old, sql, names, r) for r in rows] == [1] * len(rows)
        new.executemany(audit_module._SQLITE_INSERT, rows)
        old.execute("COMMIT")
        new.execute("COMMIT")
    assert _stored(new) == _stored(old)
    assert len(_stored(new)) == 12
    assert AuditLog(new_db).verify().ok and AuditLog(old_db).verify().ok
    old_db.dispose()
    new_db.dispose()


@pytest.mark.parametrize(
    "case",
    ["first row", "after the tail", "gap", "taken id", "wrong prev hash", "not newest", "row 1 on a non-empty table"],
)
def test_the_new_insert_refuses_exactly_what_the_old_one_refused(tmp_path: Path, case: str) -> None:
    db, raw = _migrated(tmp_path / "one.db")
    sql, names = _old_statement(db)
    seeded, _ = _rows((0, ZERO_HASH))
    tail = (0, ZERO_HASH)
    if case != "first row":
        raw.executemany(audit_module._SQLITE_INSERT, seeded[:3])
        tail = (seeded[2][0], seeded[2][-1])
    candidate, _ = _rows(tail)
    row = list(candidate[0])
    if case == "gap":
        row[0] += 1
    elif case == "taken id":
        row[0] -= 1
    elif case == "wrong prev hash":
        row[10] = "f" * 64
    elif case == "not newest":
        row[0], row[10] = seeded[1][0] + 1, seeded[1][-1]  # links to row 2 while row 3 exists
    elif case == "row 1 on a non-empty table":
        row[0], row[10] = 1, ZERO_HASH
    raw.execute("BEGIN IMMEDIATE")
    decided_old = _insert_old(raw, sql, names, tuple(row))
    raw.execute("ROLLBACK")
    raw.execute("BEGIN IMMEDIATE")
    decided_new = _insert_new(raw, tuple(row))
    raw.execute("ROLLBACK")
    expected = 1 if case in ("first row", "after the tail") else 0
    assert decided_new == decided_old == expected
    db.dispose()


def test_a_refused_row_writes_nothing_and_keeps_the_transaction(tmp_path: Path) -> None:
    db, raw = _migrated(tmp_path / "one.db")
    rows, _ = _rows((0, ZERO_HASH))
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany(audit_module._SQLITE_INSERT, rows[:2])
    with pytest.raises(sqlite3.IntegrityError, match="audit_log.hash"):
        raw.executemany(audit_module._SQLITE_INSERT, rows[3:])  # skips row 3: a gap
    assert raw.in_transaction
    raw.executemany(audit_module._SQLITE_INSERT, rows[2:])
    raw.execute("COMMIT")
    assert [r[1] for r in _stored(raw)] == ["1", "2", "3", "4"]  # quote(id)
    assert AuditLog(db).verify().ok
    db.dispose()


async def test_a_rolled_back_shared_block_leaves_no_hole_for_the_next_append(tmp_path: Path) -> None:
    """Blocks of one shared commit (``db.write()``, a savepoint each): one appends and
    raises, so the tail the log remembers is a rolled-back row; the next append must notice
    (its check fails), read the real tail and chain from it."""
    db, raw = _migrated(tmp_path / "one.db")
    log = AuditLog(db)

    async def block(name: str, rows: int, fail: bool) -> None:
        async with db.write() as conn:
            log.append_many(conn, [AuditRecord(name, f"step{i}") for i in range(rows)])
            if fail:
                raise ValueError("the block failed after appending")

    results = await asyncio.gather(
        block("a", 3, False), block("b", 3, True), block("c", 2, False), return_exceptions=True
    )
    assert [type(r) for r in results] == [type(None), ValueError, type(None)]
    async with db.write() as conn:
        log.append(conn, actor="d", action="later")
    actors = [r[0] for r in raw.execute("SELECT actor FROM audit_log ORDER BY id")]
    assert actors == ["a"] * 3 + ["c"] * 2 + ["d"]
    report = log.verify()
    assert report.ok and report.rows_checked == 6
    db.dispose()


def test_another_process_appending_between_our_transactions_is_chained_after(tmp_path: Path) -> None:
    db, raw = _migrated(tmp_path / "one.db")
    ours = AuditLog(db)
    with db.begin() as conn:
        ours.append_many(conn, [AuditRecord("us", "one"), AuditRecord("us", "two")])
    other = AuditLog(Database(create_db_engine(f"sqlite:///{tmp_path / 'one.db'}")))
    with other.db.begin() as conn:
        other.append_many(conn, [AuditRecord("them", "x"), AuditRecord("them", "y"), AuditRecord("them", "z")])
    with db.begin() as conn:  # our remembered tail is row 2: stale
        assert ours.append_many(conn, [AuditRecord("us", "three"), AuditRecord("us", "four")]) == [6, 7]
    assert ours.verify().ok
    assert [r[0] for r in raw.execute("SELECT actor FROM audit_log ORDER BY id")] == ["us"] * 2 + ["them"] * 3 + [
        "us"
    ] * 2
    other.db.dispose()
    db.dispose()


def test_a_row_slipped_in_between_two_rows_of_one_append_is_an_error_not_a_second_copy(
    tmp_path: Path,
) -> None:
    """Only a writer that ignores the lock can get between two rows of one call; here a
    trigger plays it. The call must fail and must not write its first row a second time."""
    db, raw = _migrated(tmp_path / "one.db")
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(conn, actor="a", action="one")
    raw.execute(
        "CREATE TRIGGER intruder AFTER INSERT ON audit_log WHEN new.actor = 'b' "
        "AND NOT EXISTS (SELECT 1 FROM audit_log WHERE actor = 'x') BEGIN "
        "INSERT INTO audit_log (id, ts, actor, action, command, platform, channel, summary, detail, "
        "prev_hash, hash) VALUES (new.id + 1, new.ts, 'x', 'x', '', '', '', '', '{}', new.hash, 'f'); END"
    )
    with pytest.raises(AuditChainError), db.begin() as conn:
        log.append_many(conn, [AuditRecord("b", "two"), AuditRecord("b", "three")])
    raw.execute("DROP TRIGGER intruder")
    with db.begin() as conn:  # the transaction rolled back: the chain goes on from row 1
        assert log.append(conn, actor="c", action="two") == 2
    assert log.verify().ok
    db.dispose()
