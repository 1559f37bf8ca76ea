"""Export as JSON Lines: one entry per line, oldest first, hashes included, so the file can
be archived, shipped to a SIEM, and re-checked later with nothing but the file
(``opsroom.audit.verify.verify_lines``, or any sha256 tool and the rule in ``chain.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from sqlalchemy import func, select

from opsroom.audit.query import AuditQuery
from opsroom.audit.search import iter_entries, where_clauses
from opsroom.audit.visibility import AuditScope
from opsroom.store import Database
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
    if top is None:
        return
    for entry in iter_entries(db, clauses, upto_id=int(top)):
        yield json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"


def export(db: Database, fp: TextIO, query: AuditQuery | None = None, *, scope: AuditScope | None = None) -> int:
    count = 0
    for line in lines(db, query, scope=scope):
        fp.write(line)
        count += 1
    return count
