"""Turning an AuditQuery into SQL, and reading entries back.

Every user value goes in as a bound parameter; LIKE patterns are escaped so a ``%`` or
``_`` someone types is matched literally.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Text, cast, func, or_, select

from opsroom.audit.chain import AuditEntry, to_utc
from opsroom.audit.query import AuditQuery
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database
from opsroom.store.tables import audit_log

MAX_LIMIT = 1000
CHUNK = 1000

_detail_text = cast(audit_log.c.detail, Text)


def row_to_entry(row: Row[Any]) -> AuditEntry:
    """SQLite gives naive datetimes back; PostgreSQL gives them in the session's zone."""
    detail = row.detail
    if isinstance(detail, str):  # a driver that hands back the JSON text
        detail = json.loads(detail)
    return AuditEntry(
        id=int(row.id), ts=to_utc(row.ts), actor=row.actor, action=row.action,
        command=row.command, platform=row.platform, channel=row.channel,
        run_id=None if row.run_id is None else int(row.run_id), summary=row.summary,
        detail=detail if detail is not None else {}, prev_hash=row.prev_hash, hash=row.hash,
    )


def _word(word: str) -> ColumnElement[bool]:
    """A word appears in the summary, the command or the detail's JSON text."""
    options = [
        audit_log.c.summary.icontains(word, autoescape=True),
        audit_log.c.command.icontains(word, autoescape=True),
        _detail_text.icontains(word, autoescape=True),
    ]
    # Inside JSON a quote or backslash is escaped; look for that spelling too.
    escaped = json.dumps(word, ensure_ascii=False)[1:-1]
    if escaped != word:
        options.append(_detail_text.icontains(escaped, autoescape=True))
    return or_(*options)


def _equals_any(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return func.lower(column).in_([v.lower() for v in values])


def where_clauses(q: AuditQuery) -> list[ColumnElement[bool]]:
    t = audit_log.c
    clauses: list[ColumnElement[bool]] = [_word(w) for w in q.words]
    if q.users:
        clauses.append(_equals_any(t.actor, q.users))
    if q.commands:
        clauses.append(_equals_any(t.command, q.commands))
    if q.platforms:
        clauses.append(_equals_any(t.platform, q.platforms))
    if q.channels:
        # "#ops" and "ops" name the same channel, whichever way the engine stored it.
        names = {v.lower() for v in q.channels} | {v.lower().lstrip("#") for v in q.channels}
        names |= {"#" + n for n in list(names) if not n.startswith("#")}
        clauses.append(func.lower(t.channel).in_(sorted(names)))
    if q.actions:
        # action:run matches "run" and the "run.*" family (run.started, run.finished…).
        clauses.append(or_(*(
            or_(func.lower(t.action) == a.lower(),
                func.lower(t.action).startswith(a.lower() + ".", autoescape=True))
            for a in q.actions
        )))
    if q.run_ids:
        clauses.append(t.run_id.in_(list(q.run_ids)))
    if q.since is not None:
        clauses.append(t.ts >= to_utc(q.since))
    if q.until is not None:
        clauses.append(t.ts < to_utc(q.until))
    return clauses


def search(
    db: Database, q: AuditQuery, *, limit: int = 50, before_id: int | None = None,
    scope: AuditScope | None = None,
) -> list[AuditEntry]:
    """Newest first; pass the last id you got as ``before_id`` for the next page."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    clauses = where_clauses(q)
    visible = scope.clause() if scope is not None else None
    if visible is not None:
        clauses.append(visible)
    if before_id is not None:
        clauses.append(audit_log.c.id < before_id)
    stmt = select(audit_log).where(*clauses).order_by(audit_log.c.id.desc()).limit(min(limit, MAX_LIMIT))
    with db.read() as conn:
        return [row_to_entry(r) for r in conn.execute(stmt)]


def for_run(db: Database, run_id: int) -> list[AuditEntry]:
    """Every step of one run, oldest first."""
    return list(iter_entries(db, [audit_log.c.run_id == run_id]))


def iter_entries(
    db: Database, clauses: Sequence[ColumnElement[bool]] = (), *, upto_id: int | None = None,
    chunk: int = CHUNK,
) -> Iterator[AuditEntry]:
    """Oldest first, a chunk per short read transaction, so a long export or verify never
    holds a transaction (on SQLite: the write lock) open for its whole run."""
    after = 0
    while True:
        stmt = select(audit_log).where(audit_log.c.id > after, *clauses)
        if upto_id is not None:
            stmt = stmt.where(audit_log.c.id <= upto_id)
        stmt = stmt.order_by(audit_log.c.id).limit(chunk)
        with db.read() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            yield row_to_entry(row)
        if len(rows) < chunk:
            return
        after = int(rows[-1].id)
