"""Migration 0009_audit_search_text: PostgreSQL word searches go through one stored
``search_text`` column. Rows written before the upgrade are found by it, the chain still
verifies, a word never matches across two fields, and ``until`` searches (gathered by index
when few match) give exactly what a plain scan gives. On SQLite the migration changes
nothing and the same searches give the same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from opsroom.audit import AuditLog, AuditRecord, fulltext, pgtext
from opsroom.audit import search as audit_search
from opsroom.audit.search import row_to_entry, where_clauses
from opsroom.store import Database, create_db_engine
from opsroom.store.migrate import upgrade
from opsroom.store.tables import audit_log

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _records(n: int, start: int = 0) -> list[AuditRecord]:
    people = ["alice", "bob", "carol"]
    return [
        AuditRecord(
            people[i % 3],
            "decision" if i % 2 else "command.received",
            ["deploy", "restart", "rollback"][i % 3],
            "web",
            ["#ops", "#payments"][i % 2],
            None,
            f"step {i} of payments" if i % 4 else f'say "hi" {i}',
            {"n": i, "service": ["api-gateway", "checkout"][i % 2]},
            T0 + timedelta(hours=i),
        )
        for i in range(start, start + n)
    ]


def _plain(db: Database, log: AuditLog, query: str) -> list[int]:
    stmt = select(audit_log).where(*where_clauses(log.parse(query))).order_by(audit_log.c.id.desc()).limit(1000)
    with db.read() as conn:
        return [row_to_entry(r).id for r in conn.execute(stmt)]


QUERIES = [
    "payments",
    "api-gateway",
    '"hi"',
    "checkout user:bob",
    "deploy until 2026-03-05",
    "user:carol command:restart until 2026-03-04",
    "payments channel:#payments until 2026-03-03",
    "user:alice until 2026-03-02",
    "zzz until 2026-03-05",
]


def test_rows_from_before_the_upgrade_are_found_and_still_verify(db_url: str) -> None:
    db = Database(create_db_engine(db_url))
    try:
        upgrade(db.engine, "0006_audit_search")  # the release before this migration
        log = AuditLog(db)
        with db.begin() as conn:
            log.append_many(conn, _records(60))
        db.migrate()
        with db.begin() as conn:
            log.append_many(conn, _records(20, start=60))
        for query in QUERIES:
            assert [e.id for e in log.search(query, limit=1000)] == _plain(db, log, query), query
        assert {e.id for e in log.search("payments", limit=1000)} >= {2, 3, 62, 63}  # old and new rows
        assert log.verify().ok
        if db.engine.dialect.name == "postgresql":  # (moved to audit_search by 0011_pg_search_side)
            assert pgtext.available(db)
            with db.read() as conn:
                stored = conn.execute(text("SELECT search_text FROM audit_search WHERE id = 2")).scalar()
            assert stored == 'step 1 of payments\x1frestart\x1f{"n":1,"service":"checkout"}'
        else:
            assert not fulltext.search_text(db)
    finally:
        db.dispose()


def test_a_word_never_matches_across_two_fields(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(conn, actor="alice", action="decision", command="restart", summary="deploy", detail={"k": "v"})
    assert log.search("deployrestart") == []
    assert [e.summary for e in log.search("deploy")] == ["deploy"]
    assert [e.summary for e in log.search("restart")] == ["deploy"]


@pytest.mark.parametrize("gather", [2, 5000])
def test_until_searches_equal_a_plain_scan(db: Database, monkeypatch: pytest.MonkeyPatch, gather: int) -> None:
    """``gather`` 2: more rows match than are gathered, so the search falls back to id order."""
    monkeypatch.setattr(audit_search, "GATHER", gather)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(120))
    for query in QUERIES:
        expected = _plain(db, log, query)
        assert [e.id for e in log.search(query, limit=1000)] == expected, query
        if len(expected) > 3:
            first = log.search(query, limit=3)
            assert [e.id for e in first] == expected[:3], query
            rest = log.search(query, limit=1000, before_id=first[-1].id)
            assert [e.id for e in first + rest] == expected, query
