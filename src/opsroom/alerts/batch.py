"""Batched writes of the alert tables at the driver's level on SQLite.

Intake writes a hundred rows per statement; SQLAlchemy's per-row parameter processing cost
more than SQLite's own work. ``many`` runs an INSERT or UPDATE through
``opsroom.store.db.DriverStatement`` (compiled once per set of keys, SQLAlchemy's own bind
processors, so the stored bytes are the same) and ``executemany`` on the driver's cursor.
A batch repeats its timestamps (``now`` in every row, alerts that started together): each
distinct one is turned into its stored text once. PostgreSQL keeps ``conn.execute`` (its
round trip dominates there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Sequence

from sqlalchemy import Connection

from opsroom.store.db import DriverStatement, driver_executemany


def _once_per_value(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[dt.datetime, Any] = {}

    def processed(value: Any) -> Any:
        if value.__class__ is not dt.datetime:
            return process(value)
        found = seen.get(value)
        if found is None:
            found = seen[value] = process(value)
        return found

    return processed


def many(conn: Connection, statement: DriverStatement, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)``; every row must have the same keys."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement.statement, list(rows))
        return
    sql, names, procs = statement.compiled(conn, tuple(rows[0]))
    first = rows[0]
    pairs = tuple(
        (n, _once_per_value(p) if p is not None and isinstance(first[n], dt.datetime) else p)
        for n, p in zip(names, procs, strict=True)
    )
    driver_executemany(conn, sql, [[r[n] if p is None else p(r[n]) for n, p in pairs] for r in rows])
