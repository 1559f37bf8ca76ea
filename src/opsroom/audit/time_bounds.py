"""The id range a search's time range lies in, so that "since yesterday" reads a short
range of the primary key instead of the whole log (audit/search.py, export.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from opsroom.audit.chain import to_utc
from opsroom.audit.query import AuditQuery
from opsroom.store import time_order
from opsroom.store.tables import audit_log

FLOOR_SCAN = 60_000  # rows of the time index read to bound a "since" search by id


def id_bounds(conn: Connection, q: AuditQuery) -> tuple[int | None, int | None]:
    """Ids every row of the query's time range lies between (None: no bound that side).

    SQLite: found over the primary key (store/time_order.py; rows are in time order by id
    there, and ``audit_log.ts`` has no index), for ``since`` and ``until`` alike. PostgreSQL:
    ``_id_floor``."""
    if conn.dialect.name == "sqlite":
        since = to_utc(q.since) if q.since is not None else None
        until = to_utc(q.until) if q.until is not None else None
        return time_order.bounds(conn, "audit_log", since, until)
    return _id_floor(conn, q), None


def _id_floor(conn: Connection, q: AuditQuery) -> int | None:
    """PostgreSQL: the smallest id with ``ts >= since``, when at most FLOOR_SCAN rows are
    that recent.

    Exact (read from the ``ts`` index, not assumed from id order: entries may carry an
    earlier ``ts`` than their neighbours), and it turns "since yesterday" into a short id
    range that the planners scan newest first instead of the whole log. Older "since" times
    cover too many rows for the bound to pay; the search then runs without it."""
    if q.since is None:
        return None
    if conn.dialect.name == "postgresql" and _estimated_rows(conn, to_utc(q.since)) > FLOOR_SCAN:
        return None  # the planner's statistics (the ts histogram) say too many: do not read them
    recent = select(audit_log.c.id).where(audit_log.c.ts >= to_utc(q.since)).limit(FLOOR_SCAN + 1).subquery()
    lowest, count = conn.execute(select(func.min(recent.c.id), func.count())).one()
    if count > FLOOR_SCAN:
        return None
    return int(lowest) if lowest is not None else 2**62  # nothing that recent: nothing matches


_ESTIMATE = text("EXPLAIN (FORMAT JSON) SELECT 1 FROM audit_log WHERE ts >= :since")


def _estimated_rows(conn: Connection, since: datetime) -> float:
    """PostgreSQL's estimate (from the ``ts`` histogram) of the rows at or after ``since``."""
    plan: Any = conn.execute(_ESTIMATE, {"since": since}).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])
