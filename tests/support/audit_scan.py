"""What a plain scan of the audit log returns for a search: the answer every faster search
path (indexes, side tables, id ranges, query shapes) must equal."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from opsroom.audit.query import AuditQuery
from opsroom.audit.search import where_clauses
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database
from opsroom.store.tables import audit_log


def plain_ids(db: Database, q: AuditQuery, scope: AuditScope | None = None, limit: int | None = 1000) -> list[int]:
    """The ids ``q`` matches (those ``scope`` lets its person see), newest first."""
    clauses: list[ColumnElement[bool]] = where_clauses(q)
    visible = scope.clause() if scope is not None else None
    if visible is not None:
        clauses.append(visible)
    stmt = select(audit_log.c.id).where(*clauses).order_by(audit_log.c.id.desc()).limit(limit)
    with db.read() as conn:
        return list(conn.execute(stmt).scalars())
