"""Export as JSON Lines: one entry per line, oldest first, hashes included, so the file can
be archived, shipped to a SIEM, and re-checked later with nothing but the file
(``opsroom.audit.verify.verify_lines``, or any sha256 tool and the rule in ``chain.py``)."""

from __future__ import annotations

import json
from typing import TextIO

from sqlalchemy import func, select

from opsroom.audit.query import AuditQuery
from opsroom.audit.search import iter_entries, where_clauses
from opsroom.store import Database
from opsroom.store.tables import audit_log


def export(db: Database, fp: TextIO, query: AuditQuery | None = None) -> int:
    clauses = where_clauses(query) if query is not None else []
    # Stop at the row that was last when the export began: rows appended meanwhile belong
    # to the next export, and the file is a clean prefix of the chain.
    with db.read() as conn:
        top = conn.execute(select(func.max(audit_log.c.id))).scalar()
    if top is None:
        return 0
    count = 0
    for entry in iter_entries(db, clauses, upto_id=int(top)):
        fp.write(json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")))
        fp.write("\n")
        count += 1
    return count
