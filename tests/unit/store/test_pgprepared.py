"""store/pgprepared.py: on PostgreSQL a writer group's held-back statements go as ``EXECUTE`` of
statements prepared once per connection, the merged INSERTs as one ``unnest`` of array
literals the writer quotes itself. None of it may show: the rows stored are exactly the values
given (checked against what the server reads back and against plain inserts), a value too long
for its column still fails its own caller, and the connection goes on after a failure.
PostgreSQL only (SQLite runs each statement at once, unprepared)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Json
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from opsroom.audit import AuditLog, AuditRecord
from opsroom.store import Database
from opsroom.store.pgprepared import _array
from opsroom.store.tables import audit_log

on_postgresql = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

# What breaks quoting: both quote kinds, backslashes, braces and commas (array syntax), the
# word NULL, blanks at the ends, non-ASCII, control characters, an ``E'`` look-alike.
_NASTY = ['"', "'", "\\", "{", "}", ",", " ", "NULL", "null", "é", "日本", "\x1f", "\n", "\t", "E'", "a", "$$", "%s"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_NASTY) for _ in range(rng.randint(0, 8)))


def _read_back(db: Database, literal: str, sql_type: str) -> list[Any]:
    raw = db.engine.raw_connection()
    try:  # (on the driver without parameters: the text as sent, ``%s`` included)
        return list(raw.driver_connection.execute(f"SELECT {literal}::{sql_type}[]").fetchone()[0])
    finally:
        raw.close()


@on_postgresql
def test_array_literals_read_back_as_exactly_the_values(db: Database) -> None:
    rng = random.Random(12)
    for _ in range(60):
        texts: list[str | None] = [_text(rng) for _ in range(rng.randint(1, 12))]
        texts.insert(rng.randint(0, len(texts)), None)
        literal = _array(texts)
        assert literal is not None
        assert _read_back(db, literal, "text") == texts
    numbers = [0, -1, 2**62, None, 7]
    assert _read_back(db, str(_array(numbers)), "bigint") == numbers
    floats = [0.1, -2.5e-300, 1e300, None, 3.0]
    assert _read_back(db, str(_array(floats)), "float8") == floats
    flags = [True, None, False]
    assert _read_back(db, str(_array(flags)), "bool") == flags
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    raw = db.engine.raw_connection()
    try:  # other types: the text psycopg's own dumper makes (JSON through SQLAlchemy's settings)
        cur = psycopg.ClientCursor(raw.driver_connection)
        wrapped = [Json({"k": 'v"\\', "n": [1, None]}), None, Json("x'y")]
        literal = _array(wrapped, cur)
        assert literal is not None
        assert raw.driver_connection.execute(f"SELECT {literal}::json[]").fetchone()[0] == [
            w and w.obj for w in wrapped
        ]
        assert _array([Decimal("1.10")], cur) is not None and _array([object()], cur) is None
    finally:
        raw.close()
    times = [dt.datetime(2026, 12, 5, 11, 24, 34, 604113, tzinfo=dt.UTC), None, dt.datetime(2020, 1, 1, tzinfo=india)]
    assert _read_back(db, str(_array(times)), "timestamptz") == times


def test_values_the_writer_does_not_quote_are_refused_not_mangled() -> None:
    assert _array(["a\x00b"]) is None  # (PostgreSQL text cannot hold NUL: the VALUES form's error)
    assert _array([{"a": 1}]) is None
    assert _array([float("nan")]) is None
    assert _array([dt.date(2026, 1, 1)]) is None


@on_postgresql
async def test_writer_groups_store_the_rows_given_and_prepare_their_statements(db: Database) -> None:
    audit = AuditLog(db)
    rng = random.Random(5)
    records = [
        [
            AuditRecord(
                _text(rng) or "x",
                "run.finished",
                command=_text(rng),
                channel=_text(rng),
                summary=_text(rng),
                detail={"text": _text(rng), "n": rng.randint(-5, 5), "nested": {"q": _text(rng)}},
            )
            for _ in range(rng.randint(1, 3))
        ]
        for _ in range(40)
    ]

    def write(batch: list[AuditRecord]) -> Any:
        def fn(conn: Connection) -> None:
            audit.append_many(conn, batch)

        return fn

    for _ in range(2):  # the second round on connections that prepared already
        await asyncio.gather(*(db.run_write(write(batch)) for batch in records))
    report = audit.verify()
    assert report.ok, report
    with db.read() as conn:
        stored = conn.execute(
            select(audit_log.c.actor, audit_log.c.command, audit_log.c.channel, audit_log.c.summary, audit_log.c.detail)
        ).all()

    def key(actor: str, command: str, channel: str, summary: str, detail: Any) -> str:
        return json.dumps([actor, command, channel, summary, detail], sort_keys=True)

    expected = [key(r.actor, r.command, r.channel, r.summary, dict(r.detail or {})) for b in records for r in b]
    assert sorted(key(*row) for row in stored) == sorted(expected * 2)

    def prepared(conn: Connection) -> list[str]:
        return list(conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars())

    statements = await db.run_write(prepared)
    assert any("INSERT INTO audit_log" in s and "unnest" in s for s in statements), statements


@on_postgresql
async def test_a_value_too_long_for_its_column_fails_its_caller_and_the_writer_goes_on(db: Database) -> None:
    from opsroom.store import pgwrite

    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (id INT PRIMARY KEY, a VARCHAR(3) NOT NULL, j JSON)")
    sql = "INSERT INTO scratch (id, a, j) VALUES (%s, %s, %s::json)"

    def put(*rows: tuple[int, str | None, str]) -> Any:
        def fn(conn: Connection) -> int:
            for row in rows:
                pgwrite.later(conn, sql, row, merge=True)
            return rows[0][0]

        return fn

    def update(row_id: int, a: str) -> Any:
        return lambda conn: pgwrite.later(conn, "UPDATE scratch SET a = %s WHERE id = %s", (a, row_id))

    await db.run_write(put((0, "x", "{}")))  # (prepared now)
    bad = [put((10, "abcd", "{}")), put((11, None, "{}")), put((12, "ok", "{nope")), put((0, "dup", "{}"))]
    bad.append(update(0, "long"))
    for n, wrong in enumerate(bad, 1):  # beside each: a good INSERT and UPDATE of the same group
        results = await asyncio.gather(
            db.run_write(put((n, "a'\\", '{"k": "v\\""}'))),
            db.run_write(wrong),
            db.run_write(update(0, "y")),
            return_exceptions=True,
        )
        assert isinstance(results[1], DBAPIError), results[1]
        assert not isinstance(results[0], BaseException) and results[2] is None, results
    with db.read() as conn:
        stored = conn.exec_driver_sql("SELECT id, a, j::text FROM scratch ORDER BY id").all()
    assert [tuple(r) for r in stored] == [(0, "y", "{}")] + [(n, "a'\\", '{"k": "v\\""}') for n in range(1, 6)]


@on_postgresql
async def test_a_cast_to_another_type_than_the_column_keeps_its_meaning(db: Database) -> None:
    from opsroom.store import pgwrite

    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (id INT PRIMARY KEY, t TEXT)")
    sql = "INSERT INTO scratch (id, t) VALUES (%s, %s::json)"  # JSON checked, stored as text

    def put(row_id: int, t: str) -> Any:
        return lambda conn: pgwrite.later(conn, sql, (row_id, t), merge=True)

    for round_ in range(2):
        results = await asyncio.gather(
            db.run_write(put(2 * round_, '{"a": 1}')),
            db.run_write(put(2 * round_ + 1, "{nope")),
            return_exceptions=True,
        )
        assert results[0] is None and isinstance(results[1], DBAPIError), results
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT id, t FROM scratch ORDER BY id").all() == [(0, '{"a": 1}'), (2, '{"a": 1}')]


@on_postgresql
def test_a_connection_not_in_utf8_keeps_the_drivers_own_quoting(db: Database) -> None:
    # In SJIS the second byte of "ソ" is a backslash: such a connection leaves the quoting to
    # psycopg (VALUES), and either way the rows stored are the values given.
    from opsroom.store import pgprepared

    head = "INSERT INTO t_sjis (a)"
    values = ["ソ'); DROP TABLE t_sjis; --", "表\\"]
    raw = db.engine.raw_connection()
    try:
        pg = raw.driver_connection
        pg.execute("CREATE TABLE IF NOT EXISTS t_sjis (a text)")
        for encoding, prepared in (("UTF8", True), ("SJIS", False)):
            pg.execute(f"SET client_encoding TO '{encoding}'")
            pg.execute("DELETE FROM t_sjis")
            cur = psycopg.ClientCursor(pg)
            statements = [(f"{head} VALUES (%s)", (v,), pgprepared.MERGE) for v in values]
            ((text, _),) = pgprepared.texts(pg, cur, statements)
            assert text.startswith("EXECUTE") is prepared, text
            pg.execute(text)
            assert sorted(pg.execute("SELECT a FROM t_sjis").fetchall()) == sorted((v,) for v in values)
        pg.execute("DROP TABLE t_sjis")
        pg.commit()
    finally:
        raw.close()
