"""SQLite: time bounds on ``audit_log.ts`` and ``runs.created_at`` as id bounds.

Since migration 0012_idb_time_order these two columns have no index on SQLite (each was a
b-tree every command's commits wrote to: ≈ 4.4 of a command's 14.7 WAL pages one at a time,
docs/performance.md "Wave 12 — idb"). A query bounded by time finds its id range instead,
by a binary search over the primary key (≈ 20 rows read at 1M rows), and still tests the
time on every row, so it returns exactly what a plain scan returns.

What makes the id range right:

- Rows appended since 0012 are in time order: the audit chain stamps a row no earlier than
  the newest row it links to (audit/log.py, inside the transaction its guarded INSERT
  checks), and a run's INSERT stores ``max(now, the newest run's created_at)``
  (runs/store.py).
- Rows from before 0012 may not be (a clock stepped back). The migration records each
  table's *skew* in ``time_order``: the largest step back, over every row, from the latest
  time of any earlier id to its own (0 when in order). New rows in order never raise it. An
  UPDATE of ``ts``/``created_at``/``id`` (never done by opsroom; tampering) sets it to
  ``UNKNOWN`` by trigger, and the bounds then cover the whole table.
- For a row ``m`` with ``time[m] < since - skew``, every earlier row has ``time <= time[m] +
  skew < since``: all rows up to ``m`` are excluded. Symmetrically a row with ``time[m] >
  until + skew`` excludes every later row. The search moves only on such proofs, so the
  range is exact when the skew is 0 and wider, never narrower, otherwise.

PostgreSQL keeps both indexes and its queries; ``bounds`` gives ``(None, None)`` there.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table

UNKNOWN = 2**62  # skew (µs) after an UPDATE of a time or id: no row can be excluded
# The time column of each table whose time bounds become id bounds.
COLUMNS = {"audit_log": "ts", "runs": "created_at"}

_SKEW = "SELECT skew_us FROM time_order WHERE name = ?"
# (each alone, so each reads one end of the b-tree: ``min(id), max(id)`` together scan it)
_ENDS = "SELECT (SELECT min(id) FROM {table}), (SELECT max(id) FROM {table})"
_FIRST_FROM = "SELECT id, {column} FROM {table} WHERE id >= ? ORDER BY id LIMIT 1"
_LAST_UPTO = "SELECT id, {column} FROM {table} WHERE id <= ? ORDER BY id DESC LIMIT 1"
_SQL = {
    t: (_ENDS.format(table=t), _FIRST_FROM.format(table=t, column=c), _LAST_UPTO.format(table=t, column=c))
    for t, c in COLUMNS.items()
}


def stored_text(value: dt.datetime) -> str:
    """A time as SQLAlchemy stores a ``UTCDateTime`` on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``,
    UTC): text order is time order, as the queries compare it."""
    if value.tzinfo is not None and value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def skew(raw: Any, table: str) -> int:
    """The table's recorded skew in µs (0 without ``time_order``: a file made by
    ``create_all``, written in order from its first row)."""
    try:
        row = raw.execute(_SKEW, (table,)).fetchone()
    except sqlite3.OperationalError:  # no such table
        return 0
    return 0 if row is None else int(row[0])


@dataclass(frozen=True)
class IdRange:
    """Where a time range's rows lie by id: ``clauses`` to add to a query's WHERE (none on
    PostgreSQL, whose time indexes serve), and whether newest first by id is newest first by
    time (``in_order``: SQLite with skew 0)."""

    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    in_order: bool = False


def id_range(
    conn: Connection, table: Table, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> IdRange:
    """``bounds`` as WHERE clauses on ``table.c.id``, read with one look at the skew."""
    low, high, skew_us = _bounds(conn, table.name, since, until)
    clauses = ([table.c.id >= low] if low is not None else []) + ([table.c.id <= high] if high is not None else [])
    return IdRange(clauses, in_order=skew_us == 0)


def bounds(
    conn: Connection, table: str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> tuple[int | None, int | None]:
    """``(low, high)``: every row of ``table`` with time ``>= since`` (``> since`` too) has
    ``id >= low``, every row with time ``<= until`` (``< until`` too) has ``id <= high``.
    None where no bound was asked, and both None on PostgreSQL (its indexes serve)."""
    low, high, _ = _bounds(conn, table, since, until)
    return low, high


def _bounds(
    conn: Connection, table: str, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[int | None, int | None, int | None]:
    """``bounds`` and the skew (µs) they were found with: None when not read (PostgreSQL, no
    bound asked, an empty table)."""
    if conn.dialect.name != "sqlite" or (since is None and until is None):
        return None, None, None
    raw: Any = conn.connection.driver_connection
    ends, first_from, last_upto = _SQL[table]
    lowest, highest = raw.execute(ends).fetchone()
    if lowest is None:
        return (1 if since is not None else None), (0 if until is not None else None), None
    skew_us = skew(raw, table)
    step = dt.timedelta(microseconds=min(skew_us, UNKNOWN))
    low = high = None
    if since is not None:
        low = _floor(raw, first_from, _shifted(since, -step), lowest, highest)
    if until is not None:
        high = _ceiling(raw, last_upto, _shifted(until, step), lowest, highest)
    return low, high, skew_us


def _shifted(value: dt.datetime, step: dt.timedelta) -> str | None:
    try:
        return stored_text(value + step)
    except OverflowError:
        return None  # beyond any time: nothing can be excluded on this side


def _floor(raw: Any, first_from: str, below: str | None, lo: int, highest: int) -> int:
    """The lowest id not proven excluded: rows below ``lo`` are (time ``< below``)."""
    if below is None:
        return lo
    hi = highest + 1
    while lo < hi:
        m = (lo + hi) // 2
        found, at = raw.execute(first_from, (m,)).fetchone()  # (m <= highest: always a row)
        if at < below:
            lo = found + 1  # it and every earlier row are before ``since``
        else:
            hi = m  # (no row in [m, found))
    return lo


def _ceiling(raw: Any, last_upto: str, above: str | None, lowest: int, hi: int) -> int:
    """The highest id not proven excluded: rows above ``hi`` are (time ``> above``)."""
    if above is None:
        return hi
    lo = lowest - 1
    while lo < hi:
        m = (lo + hi + 1) // 2
        found, at = raw.execute(last_upto, (m,)).fetchone()  # (m >= lowest: always a row)
        if at > above:
            hi = found - 1  # it and every later row are after ``until``
        else:
            lo = m  # (no row in (found, m])
    return hi
