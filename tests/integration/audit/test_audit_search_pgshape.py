"""PostgreSQL's planner-proof search shapes (audit/pgshape.py) change how rows are read,
never which: words alone read the newest rows first, then the trigram index's matches;
a word with one user or command walks that person's (or command's) index in batches. With
windows and batches made tiny so that every step runs, every search gives exactly what a
plain scan gives, page by page, with a visibility scope, with rows past the side table's
mark, and with rows whose time is earlier than their neighbours'. SQLite gives the same
answers through its own paths."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.audit_scan import plain_ids

from opsroom.audit import AuditLog, AuditRecord, pgshape, pgtext
from opsroom.audit import log as audit_log_module
from opsroom.audit.chain import to_utc
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database
from opsroom.store.tables import audit_log

SCOPE = AuditScope("bob", readable=frozenset({"ops"}), configured=frozenset({"ops", "payments"}))
SUMMARIES = ["deployed api-gateway", "denied: dave may not", "disk full on /var", "v4.12.3 out", "quiet", "50% done"]
SEARCHES = [
    "deploy",
    "denied",
    '"disk full"',
    "v4.12.3",
    "50%",
    "nothing-like-this",
    "deploy api-gateway",
    "denied user:dave",
    "service user:dave",
    "denied user:DAVE",
    "deploy user:alice",
    "disk user:bob",
    "quiet user:nobody",
    "deploy command:rollback",
    "denied command:Restart",
    "deploy user:alice action:decision",
    "deploy user:alice channel:#ops",
    "deploy user:alice since 2000-01-01",
    "denied user:dave until 2100-01-01",
    "quiet user:bob run:3",
]


def _records(rng: random.Random, n: int) -> list[AuditRecord]:
    return [
        AuditRecord(
            rng.choice(["alice", "bob", "Dave", "dave", "carol"]),
            rng.choice(["decision", "command.received", "run.finished"]),
            rng.choice(["deploy", "rollback", "restart", "RESTART"]),
            "web",
            rng.choice(["#ops", "#payments", "ops"]),
            rng.randint(1, 5),
            rng.choice(SUMMARIES),
            {"n": i, "service": rng.choice(["api-gateway", "checkout"])},
        )
        for i in range(n)
    ]


def _plain(db: Database, log: AuditLog, q: str, scope: AuditScope | None) -> list[int]:
    return plain_ids(db, log.parse(q), scope)


def _restamp(db: Database, which: Callable[[int], bool], new: Callable[[datetime], datetime]) -> None:
    """Give the rows ``which`` picks another time (as an edit would: the chain no longer
    verifies, the searches must still be exact)."""
    with db.begin() as conn:
        for row in conn.execute(select(audit_log.c.id, audit_log.c.ts)).all():
            if which(row.id):
                stamp = new(to_utc(row.ts))
                conn.execute(update(audit_log).where(audit_log.c.id == row.id).values(ts=stamp))


def _counted(monkeypatch: pytest.MonkeyPatch, name: str, calls: dict[str, int]) -> None:
    real: Callable[..., Any] = getattr(pgshape, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[name] = calls.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(pgshape, name, counting)


def test_shaped_searches_equal_a_plain_scan(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_log_module._pgtext, "after_append", lambda db, last_id: 2**62)
    monkeypatch.setattr(pgtext, "CATCH_UP_AT", 10**9)
    tiny = {"WINDOW": 20, "DENSE": 2, "WALK": 30, "FIRST": 7, "MIN_BATCH": 5, "STEP": 2, "MAX_BATCH": 40}
    for name, value in tiny.items():
        monkeypatch.setattr(pgshape, name, value)
    calls: dict[str, int] = {}
    for name in ("newest_words", "by_candidates"):
        _counted(monkeypatch, name, calls)
    rng = random.Random(13)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(rng, 300))
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        with db.begin() as conn:
            pgtext.fill(conn, 250)  # rows 251-300 past the side table's mark
    _restamp(db, lambda i: i % 10 == 3, lambda ts: ts - timedelta(days=1))  # a day before its neighbours
    for q in SEARCHES:
        for scope in (None, SCOPE):
            expected = _plain(db, log, q, scope)
            assert [e.id for e in log.search(q, limit=1000, scope=scope)] == expected, (q, scope)
            if len(expected) > 4:  # page by page
                first = log.search(q, limit=3, scope=scope)
                rest = log.search(q, limit=1000, scope=scope, before_id=first[-1].id)
                assert [e.id for e in first + rest] == expected, (q, scope)
    if postgres:  # both shapes ran (on SQLite neither is used)
        assert calls.get("newest_words", 0) > 0 and calls.get("by_candidates", 0) > 0


def test_a_time_since_between_shuffled_rows(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user and a word with a time range, when a row's time is earlier than the rows
    around it: the batches do not stop at the first row outside the range."""
    for name, value in (("FIRST", 3), ("MIN_BATCH", 2), ("STEP", 2)):
        monkeypatch.setattr(pgshape, name, value)
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, _records(random.Random(5), 120))
    _restamp(db, lambda i: i % 7 == 0, lambda ts: datetime(2001, 1, 1, tzinfo=UTC))
    for q in (
        "denied user:dave until 2002-01-01",
        "deploy user:alice since 2002-01-01",
        "quiet user:bob until 2002-01-01",
    ):
        assert [e.id for e in log.search(q, limit=1000)] == _plain(db, log, q, None), q
        assert [e.id for e in log.search(q, limit=1000, scope=SCOPE)] == _plain(db, log, q, SCOPE), q
