"""The search indexes change speed, never results: every query gives exactly what a plain
scan with the same conditions gives, on both backends, whether rows are already in the
SQLite full-text index or newer than it, and after a row is edited."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, update

from opsroom.audit import AuditLog, AuditRecord, fulltext
from opsroom.audit.search import row_to_entry, where_clauses
from opsroom.store import Database
from opsroom.store.tables import audit_log

WORDS = [
    "deploy",
    "Payments",
    "v4.12.3",
    "disk full",
    "ÄRGER",
    "ärger",
    'say "hi"',
    "back\\slash",
    "50%",
    "a_b",
    "zz",
    "x",
    "naïve",
    "日本語テキスト",
    "DEPLOY",
    "nothing-like-this",
]
QUERIES = [
    "deploy",
    "payments",
    "v4.12.3",
    '"disk full"',
    "ärger",
    "Ärger",
    '"say \\"hi\\""',
    "back\\slash",
    "50%",
    "a_b",
    "zz",
    "x",
    "naïve",
    "日本語",
    "deploy payments",
    "nothing-like-this",
    "ploy",
    "deploy user:alice",
    "payments action:decision",
    "disk since 2h ago",
    '"hi"',
    "lash",
]


def _fill(db: Database, n: int, seed: int) -> AuditLog:
    rng = random.Random(seed)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(
            conn,
            [
                AuditRecord(
                    rng.choice(["alice", "bob"]),
                    rng.choice(["decision", "command.received"]),
                    rng.choice(["deploy", "rollback", ""]),
                    "web",
                    "#ops",
                    None,
                    " ".join(rng.sample(WORDS, 3)),
                    {"text": rng.choice(WORDS), "n": i},
                )
                for i in range(n)
            ],
        )
    return log


def _plain(db: Database, log: AuditLog, text: str) -> list[int]:
    stmt = select(audit_log).where(*where_clauses(log.parse(text))).order_by(audit_log.c.id.desc()).limit(1000)
    with db.read() as conn:
        return [row_to_entry(r).id for r in conn.execute(stmt)]


def _check(db: Database, log: AuditLog) -> None:
    for text in QUERIES:
        expected = _plain(db, log, text)
        assert [e.id for e in log.search(text, limit=1000)] == expected, text
        if len(expected) > 3:  # pages line up too
            first = log.search(text, limit=3)
            rest = log.search(text, limit=1000, before_id=first[-1].id)
            assert [e.id for e in first + rest] == expected, text


def test_indexed_search_equals_a_plain_scan(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fulltext, "CATCH_UP_AT", 50)
    log = _fill(db, 300, seed=1)
    _check(db, log)  # the first search indexes the 300 rows (SQLite)
    _fill(db, 30, seed=2)  # fewer than CATCH_UP_AT: scanned directly, not indexed yet
    _check(db, log)
    # An edited row (tampering) is found by its new text, not its old one.
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 5).values(summary="nothing-like-this edited"))
    _check(db, log)
    assert 5 in [e.id for e in log.search("edited")]
    assert log.verify().ok is False  # and the chain still says it was edited


def test_sqlite_keeps_a_full_text_index(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fulltext, "CATCH_UP_AT", 10)
    log = _fill(db, 100, seed=3)
    log.search("deploy")
    assert fulltext.available(db) == (db.engine.dialect.name == "sqlite")
    if fulltext.available(db):
        assert fulltext.indexed_upto(db) == 100
