"""SQLite's ``audit_terms`` (migration 0010) changes speed, never results: ``user:``,
``command:`` and ``channel:`` searches give exactly what a plain scan with the same
conditions gives (the conditions main tested with its ``lower()`` indexes), for rows already
indexed and rows newer than the high-water mark, page by page, with and without a
visibility scope, for names in any case and outside ASCII. PostgreSQL runs the same checks
on its indexes."""

from __future__ import annotations

import io
import json
import random

import pytest
from sqlalchemy import ColumnElement, inspect, select, text, update

from opsroom.audit import AuditLog, AuditRecord, terms
from opsroom.audit.query import AuditQuery
from opsroom.audit.search import row_to_entry, where_clauses
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database, create_db_engine
from opsroom.store.migrate import upgrade
from opsroom.store.tables import audit_log

# Case variants, non-ASCII letters SQLite's lower() leaves alone (É, ß, İ), LIKE characters.
ACTORS = ["alice", "Alice", "ALICE", "bob", "Élise", "élise", "ÉLISE", "straße", "STRASSE", "İsmail", "a_b", "50%"]
COMMANDS = ["deploy", "Deploy", "DEPLOY", "rollback", "", "Ünlock", "ünlock"]
CHANNELS = ["#ops", "ops", "#Ops", "OPS", "#war-room", "dm", "", "#Élan", "élan", "#élan", "#team1"]
ASKED_USERS = ["alice", "ALICE", "Élise", "élise", "ÉLISE", "straße", "strasse", "İsmail", "i̇smail"]
ASKED_USERS += ["a_b", "a%", "nobody"]
ASKED_COMMANDS = ["deploy", "DePloy", "rollback", "ünlock", "Ünlock", "", "none"]
ASKED_CHANNELS = ["#ops", "ops", "OPS", "#OPS", "#war-room", "war-room", "dm", "#élan", "Élan", "#Élan"]
ASKED_CHANNELS += ["team1", "#none"]
SCOPES = [
    None,
    AuditScope("bob", readable=frozenset({"ops"}), configured=frozenset({"ops", "war-room", "élan"})),
    AuditScope("Élise", readable=frozenset({"élan"}), configured=frozenset({"ops", "élan"}), unlisted_readable=True),
    AuditScope("nobody", configured=frozenset({"ops"})),
]


def _append(db: Database, log: AuditLog, n: int, rng: random.Random) -> None:
    with db.begin() as conn:
        log.append_many(
            conn,
            [
                AuditRecord(
                    rng.choice(ACTORS),
                    rng.choice(["decision", "command.received", "run.finished"]),
                    rng.choice(COMMANDS),
                    "web",
                    rng.choice(CHANNELS),
                    None,
                    rng.choice(["deployed", "denied", "rolled back"]),
                    {"n": i},
                )
                for i in range(n)
            ],
        )


def _queries(rng: random.Random) -> list[AuditQuery]:
    found = [AuditQuery(users=(u,)) for u in ASKED_USERS]
    found += [AuditQuery(commands=(c,)) for c in ASKED_COMMANDS]
    found += [AuditQuery(channels=(c,)) for c in ASKED_CHANNELS]
    for _ in range(40):
        found.append(
            AuditQuery(
                users=tuple(rng.sample(ASKED_USERS, rng.randint(0, 2))),
                commands=tuple(rng.sample(ASKED_COMMANDS, rng.randint(0, 2))),
                channels=tuple(rng.sample(ASKED_CHANNELS, rng.randint(0 if rng.random() < 0.5 else 1, 2))),
                words=("deployed",) if rng.random() < 0.2 else (),
            )
        )
    return [q for q in found if q.users or q.commands or q.channels]


def _plain(db: Database, q: AuditQuery, scope: AuditScope | None) -> list[int]:
    clauses: list[ColumnElement[bool]] = where_clauses(q)
    visible = scope.clause() if scope is not None else None
    if visible is not None:
        clauses.append(visible)
    stmt = select(audit_log).where(*clauses).order_by(audit_log.c.id.desc())
    with db.read() as conn:
        return [row_to_entry(r).id for r in conn.execute(stmt)]


def _check(db: Database, log: AuditLog, queries: list[AuditQuery]) -> int:
    """Every query and scope: all results at once and in pages of 7; returns the rows found."""
    seen = 0
    for q in queries:
        for scope in SCOPES:
            expected = _plain(db, q, scope)
            assert [e.id for e in log.search(q, limit=1000, scope=scope)] == expected, (q, scope)
            pages: list[int] = []
            before = None
            while True:
                page = [e.id for e in log.search(q, limit=7, before_id=before, scope=scope)]
                pages += page
                if len(page) < 7:
                    break
                before = page[-1]
            assert pages == expected, (q, scope)
            seen += len(expected)
    return seen


def _check_export(db: Database, log: AuditLog, queries: list[AuditQuery]) -> None:
    """Exports (oldest first) hold exactly the rows of a plain scan, too."""
    for q in queries:
        for scope in SCOPES:
            out = io.StringIO()
            log.export(out, q, scope=scope)
            exported = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
            assert exported == _plain(db, q, scope)[::-1], (q, scope)


def test_term_searches_equal_a_plain_scan_below_and_above_the_mark(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terms, "FILL_EVERY", 200)
    rng = random.Random(7)
    log = AuditLog(db)
    for _ in range(6):
        _append(db, log, 70, rng)  # the write path indexes at 70 and every 200 rows after
    sqlite = terms.available(db)
    if sqlite:
        mark = terms.indexed_upto(db)
        assert 0 < mark < 420  # some rows indexed, the newest not yet
    queries = _queries(random.Random(8))
    assert _check(db, log, queries) > 1000
    _check_export(db, log, queries[::3])
    # Tampering: an indexed row edited to new names is found by them, and not by its old ones.
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 3).values(actor="Mallory", channel="#Élan", command="x"))
    edited = [AuditQuery(users=("mallory",)), AuditQuery(channels=("#élan",)), AuditQuery(commands=("X",))]
    assert 3 in [e.id for e in log.search(edited[0])]
    _check(db, log, queries + edited)
    with db.begin() as conn:  # and a deleted one is gone
        conn.execute(audit_log.delete().where(audit_log.c.id == 4))
    _check(db, log, queries[:10])


def test_write_path_and_searches_keep_the_mark_up(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.engine.dialect.name != "sqlite":
        assert not terms.available(db)  # PostgreSQL keeps its lower() indexes
        names = {ix["name"] for ix in inspect(db.engine).get_indexes("audit_log")}
        assert {"ix_audit_log_actor_lower", "ix_audit_log_command_lower", "ix_audit_log_channel_lower"} <= names
        return
    with db.read() as conn:
        indexes = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars().all()
    assert not [n for n in indexes if n.endswith("_lower")]
    monkeypatch.setattr(terms, "FILL_EVERY", 100)
    monkeypatch.setattr(terms, "CATCH_UP_AT", 50)
    log = AuditLog(db)
    rng = random.Random(9)
    for _ in range(5):
        _append(db, log, 30, rng)  # indexed at 30 (its first append) and at 150 (100 later)
    assert terms.indexed_upto(db) == 150
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_terms WHERE field > 0")).scalar() == 3 * 150
    _append(db, log, 40, rng)  # not due yet; fewer than CATCH_UP_AT: searches test them directly
    assert terms.indexed_upto(db) == 150
    monkeypatch.setattr(terms, "FILL_MAX", 10)
    _append(db, AuditLog(db), 1, rng)  # another writer's first append: at most FILL_MAX rows
    assert terms.indexed_upto(db) == 160
    _append(db, log, 30, rng)
    assert terms.indexed_upto(db) == 221  # 61 rows after the mark: the search indexes them


def test_migration_fills_the_terms_of_existing_rows(tmp_path: object) -> None:
    db = Database(create_db_engine(f"sqlite:///{tmp_path}/old.db"))
    upgrade(db.engine, "0009_audit_search_text")  # (the audit branch only)
    log = AuditLog(db)
    _append(db, log, 300, random.Random(10))  # no audit_terms yet: the write path leaves it
    db.migrate()
    assert terms.available(db)
    assert terms.indexed_upto(db) == 300
    _check(db, AuditLog(db), _queries(random.Random(11))[:30])
    db.dispose()
