"""The audit trail: append-only, hash-chained, searchable, exportable.

Every step of every command is appended in the same transaction as the state change it
records (``AuditLog.append(conn, …)``); ``verify`` names any row that was edited, deleted
or moved; ``search`` speaks the query language in ``opsroom.audit.query``.
"""

from opsroom.audit.chain import ZERO_HASH, AuditEntry, AuditRecord, entry_hash
from opsroom.audit.log import AuditChainError, AuditLog
from opsroom.audit.query import AuditQuery, parse_query
from opsroom.audit.verify import Problem, VerifyReport, verify_lines

__all__ = [
    "AuditChainError",
    "AuditEntry",
    "AuditLog",
    "AuditQuery",
    "AuditRecord",
    "Problem",
    "VerifyReport",
    "ZERO_HASH",
    "entry_hash",
    "parse_query",
    "verify_lines",
]
