"""Batched writes of the alert tables at the driver's level on SQLite.

Intake writes a hundred rows per statement; SQLAlchemy's per-row parameter processing cost
more than SQLite's own work. ``many`` runs an INSERT or UPDATE through
``opsroom.store.db.DriverStatement`` (compiled once per set of keys, SQLAlchemy's own bind
processors, so the stored bytes are the same) and ``executemany`` on the driver's cursor.
PostgreSQL keeps ``conn.execute`` (its round trip dominates there).
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Connection

from opsroom.store.db import DriverStatement, driver_executemany


def many(conn: Connection, statement: DriverStatement, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)``; every row must have the same keys."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement.statement, list(rows))
        return
    sql, names, procs = statement.compiled(conn, tuple(rows[0]))
    pairs = tuple(zip(names, procs, strict=True))
    driver_executemany(conn, sql, [[r[n] if p is None else p(r[n]) for n, p in pairs] for r in rows])
