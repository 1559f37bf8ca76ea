"""Export as JSON Lines: one entry per line, oldest first, hashes included, so the file can
be archived, shipped to a SIEM, and re-checked later with nothing but the file
(``opsroom.audit.verify.verify_lines``, or any sha256 tool and the rule in ``chain.py``)."""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterator, Sequence
from typing import TextIO

from sqlalchemy import ColumnElement, func, select

from opsroom.audit import terms
from opsroom.audit.chain import AuditEntry
from opsroom.audit.query import AuditQuery
from opsroom.audit.search import CHUNK, iter_entries, row_to_entry, term_filters, where_clauses
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database, time_order
from opsroom.store.tables import audit_log


def lines(db: Database, query: AuditQuery | None = None, *, scope: AuditScope | None = None) -> Iterator[str]:
    """One JSON line (with its newline) per entry; ``scope`` limits it to what one person may see."""
    clauses = where_clauses(query) if query is not None else []
    visible = scope.clause() if scope is not None else None
    if visible is not None:
        clauses.append(visible)
    # Stop at the row that was last when the export began: rows appended meanwhile belong
    # to the next export, and the file is a clean prefix of the chain.
    with db.read() as conn:
        top = conn.execute(select(func.max(audit_log.c.id))).scalar()
        # SQLite: the time range's ids (no time index there: store/time_order.py)
        low, high = (None, None) if query is None else time_order.bounds(conn, "audit_log", query.since, query.until)
    if top is None:
        return
    after = 0 if low is None else low - 1
    top = top if high is None else min(int(top), high)
    filters = term_filters(query) if query is not None and db.engine.dialect.name == "sqlite" else []
    entries: Iterator[AuditEntry]
    if filters and terms.available(db):
        marked = min(terms.indexed_upto(db), int(top))
        entries = itertools.chain(
            _indexed(db, filters[0], clauses, marked, after),
            iter_entries(db, clauses, upto_id=int(top), after=max(marked, after)),
        )
    else:
        entries = iter_entries(db, clauses, upto_id=int(top), after=after)
    for entry in entries:
        yield json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"


def _indexed(
    db: Database, first: tuple[int, list[str]], clauses: Sequence[ColumnElement[bool]], high: int, after: int = 0
) -> Iterator[AuditEntry]:
    """SQLite: the rows up to ``audit_terms``' mark that the first user/command/channel
    filter's entries name, oldest first, every condition tested on the row (what a scan of
    the log would give, without reading the rows no entry names)."""
    field, values = first
    candidates = heapq.merge(*(_ids(db, field, value, high, after) for value in values))
    while batch := list(itertools.islice(candidates, CHUNK)):
        stmt = select(audit_log).where(audit_log.c.id.in_(batch), *clauses).order_by(audit_log.c.id)
        with db.read() as conn:
            rows = conn.execute(stmt).all()
        yield from (row_to_entry(r) for r in rows)


def _ids(db: Database, field: int, value: str, high: int, after: int = 0) -> Iterator[int]:
    """The ids ``(field, value)`` names above ``after`` up to ``high``, ascending, read a
    chunk at a time."""
    t = terms.audit_terms.c
    while True:
        stmt = (
            select(t.id)
            .where(t.field == field, t.value == value, t.id > after, t.id <= high)
            .order_by(t.id)
            .limit(CHUNK * 4)
        )
        with db.read() as conn:
            ids = conn.execute(stmt).scalars().all()
        yield from ids
        if len(ids) < CHUNK * 4:
            return
        after = ids[-1]


def export(db: Database, fp: TextIO, query: AuditQuery | None = None, *, scope: AuditScope | None = None) -> int:
    count = 0
    for line in lines(db, query, scope=scope):
        fp.write(line)
        count += 1
    return count
