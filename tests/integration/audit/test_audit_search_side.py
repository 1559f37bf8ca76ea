"""PostgreSQL's ``audit_search`` side table (migration 0011_pg_search_side, audit/pgtext.py)
changes where word searches look, never what they find: on generated rows, with rows both
copied and past the side table's mark, every search gives exactly what a plain scan of
audit_log gives, page by page and with a visibility scope. An edited row is found by its
new text; the write path's filler copies committed rows; two fills at once never copy
twice; the migration copies existing rows and its downgrade brings 0009's column back. On
SQLite the migration changes nothing and the same searches give the same answers."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from tests.support.audit_scan import plain_ids

from opsroom.audit import AuditLog, AuditRecord, pgtext
from opsroom.audit import log as audit_log_module
from opsroom.audit.query import AuditQuery
from opsroom.audit.search import search
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database, create_db_engine
from opsroom.store.migrate import alembic_config, upgrade

WORDS = ["deploy", "payments", "api-gateway", "zebra", 'say "hi"', "50%", "a_b", "ÉLAN", "élan", "x\x1fy", "hi"]
SCOPE = AuditScope("bob", readable=frozenset({"ops"}), configured=frozenset({"ops", "payments"}))


def _records(rng: random.Random, n: int) -> list[AuditRecord]:
    summaries = ["deployed api-gateway", 'say "hi" to payments', "50% done", "a_b test", "Élan vital", "quiet"]
    return [
        AuditRecord(
            rng.choice(["alice", "bob"]),
            rng.choice(["decision", "command.received"]),
            rng.choice(["deploy", "rollback", "restart"]),
            "web",
            rng.choice(["#ops", "#payments"]),
            None,
            rng.choice(summaries),
            {"n": i, "service": rng.choice(["api-gateway", "checkout", 'q"uote', "élan"])},
        )
        for i in range(n)
    ]


def _queries(rng: random.Random) -> list[AuditQuery]:
    found = [AuditQuery(words=(w,)) for w in WORDS]
    for _ in range(25):
        found.append(
            AuditQuery(
                words=tuple(rng.sample(WORDS, rng.randint(1, 2))),
                users=("alice",) if rng.random() < 0.3 else (),
                channels=("#payments",) if rng.random() < 0.3 else (),
            )
        )
    recent = datetime.now(UTC) - timedelta(hours=1)  # every row: a "since" floor at the first
    found += [AuditQuery(words=(w,), since=recent) for w in ("payments", "hi")]
    return found


def _no_filler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The write path does not fill and searches do not catch up: the mark stays where the
    test puts it."""
    monkeypatch.setattr(audit_log_module._pgtext, "after_append", lambda db, last_id: 2**62)
    monkeypatch.setattr(pgtext, "CATCH_UP_AT", 10**9)


def _mark(db: Database) -> int:
    with db.read() as conn:
        return pgtext.mark(conn)


def _fill(db: Database, most: int | None) -> None:
    with db.begin() as conn:
        assert pgtext.fill(conn, most) is not None


def test_searches_equal_a_plain_scan_with_rows_past_the_mark(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_filler(monkeypatch)
    rng = random.Random(14)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(rng, 150))
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        assert pgtext.available(db)
        _fill(db, 100)  # rows 1–100 copied, 101–150 past the mark
    with db.begin() as conn:
        log.append_many(conn, _records(rng, 50))
    if postgres:
        assert _mark(db) == 100
    for q in _queries(rng):
        for scope in (None, SCOPE):
            expected = plain_ids(db, q, scope)
            assert [e.id for e in search(db, q, limit=1000, scope=scope)] == expected, q
            if len(expected) > 4:  # page by page, across the mark
                first = search(db, q, limit=3, scope=scope)
                rest = search(db, q, limit=1000, scope=scope, before_id=first[-1].id)
                assert [e.id for e in first + rest] == expected, q
    assert any(e.id > 100 for e in log.search("payments", limit=1000))  # the newest rows too
    assert log.verify().ok


def test_an_edited_row_is_found_by_its_new_text(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_filler(monkeypatch)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(random.Random(3), 40))
    if db.engine.dialect.name == "postgresql":
        _fill(db, 30)
    with db.begin() as conn:  # one copied row, one past the mark
        conn.execute(text("UPDATE audit_log SET summary = 'corrected zebra' WHERE id IN (7, 35)"))
    assert [e.id for e in log.search("zebra")] == [35, 7]
    assert [e.id for e in log.search("zebra")] == plain_ids(db, AuditQuery(words=("zebra",)))
    if db.engine.dialect.name == "postgresql":
        _fill(db, None)  # 35 is copied with its new text
        assert [e.id for e in log.search("zebra")] == [35, 7]
        with db.read() as conn:
            stored = conn.execute(text("SELECT search_text FROM audit_search WHERE id = 7")).scalar()
        assert str(stored).startswith("corrected zebra\x1f")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # audit_search is PostgreSQL's
def test_the_write_path_fills_the_side_table(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgtext, "FILL_EVERY", 20)
    log = AuditLog(db)
    for _ in range(3):
        with db.begin() as conn:
            log.append_many(conn, _records(random.Random(5), 30))
    # The filler copies what is committed when it runs (the rows of this last append woke it
    # before their commit): one more wake-up after the commit copies the rest.
    pgtext.after_append(db, 0)
    deadline = time.monotonic() + 30
    while _mark(db) < 90 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _mark(db) == 90
    with db.read() as conn:
        copied = conn.execute(text("SELECT count(*) FROM audit_search")).scalar()
    assert copied == 90


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_fills_at_once_copy_each_row_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_filler(monkeypatch)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(random.Random(8), 60))
    first, second = db.engine.connect(), db.engine.connect()
    try:
        first.begin()
        assert pgtext.fill(first, 40) == (40, 60)
        second.begin()
        assert pgtext.fill(second) is None  # the lock is taken: this one does nothing
        first.commit()
        assert pgtext.fill(second) == (60, 60)
        second.commit()
    finally:
        first.close()
        second.close()
    with db.read() as conn:
        rows = conn.execute(text("SELECT id FROM audit_search ORDER BY id")).scalars().all()
    assert rows == list(range(1, 61))


def test_upgrade_copies_rows_and_downgrade_restores_the_column(db_url: str) -> None:
    from alembic import command

    db = Database(create_db_engine(db_url))
    try:
        upgrade(db.engine, "0010_audit_terms")
        log = AuditLog(db)
        with db.begin() as conn:
            log.append_many(conn, _records(random.Random(2), 50))
        db.migrate()
        postgres = db.engine.dialect.name == "postgresql"
        queries = _queries(random.Random(4))
        for q in queries:
            assert [e.id for e in search(db, q, limit=1000)] == plain_ids(db, q), q
        if postgres:
            with db.read() as conn:
                copied = conn.execute(text("SELECT search_text FROM audit_search WHERE id = 2")).scalar()
                columns = conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'audit_log'"
                    )
                ).scalars()
                assert "search_text" not in set(columns)
                summary = conn.execute(text("SELECT summary FROM audit_log WHERE id = 2")).scalar()
            assert str(copied).startswith(f"{summary}\x1f")
        with db.engine.connect() as conn, conn.begin():
            cfg = alembic_config(db.engine)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0010_audit_terms")
        again = Database(create_db_engine(db_url))  # (a fresh engine: its schema probes are new)
        try:
            for q in queries:
                assert [e.id for e in search(again, q, limit=1000)] == plain_ids(again, q), q
            if postgres:
                with again.read() as conn:
                    stored = conn.execute(text("SELECT search_text FROM audit_log WHERE id = 2")).scalar()
                    index = conn.execute(
                        text(
                            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
                            "AND indexname = 'ix_audit_log_search_text_trgm'"
                        )
                    ).first()
                assert stored == copied
                assert index is not None
        finally:
            again.dispose()
    finally:
        db.dispose()
