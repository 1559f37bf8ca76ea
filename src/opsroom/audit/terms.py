"""SQLite: who, what and where of every audit row, for ``user:``/``command:``/``channel:``
searches (the table ``audit_terms``, migration 0010_audit_terms).

Until 0010 these searches went by three ``(lower(actor|command|channel), id)`` indexes. With
20 commands at once those were half the pages every shared commit wrote: each person's and
channel's newest entries sit in a leaf in the middle of the index, one leaf per person per
commit (docs/performance.md, "Wave 7 — sql8", "Wave 8 — sqlidx"). ``audit_terms`` holds the
same keys, ``(field, lower(value), id)``, but is filled in batches of rows, so a leaf is
written once per batch instead of once per commit.

- ``value`` is SQLite's own ``lower()`` of the column, computed by SQLite when the batch is
  filled, so ``value IN (...)`` selects exactly the rows ``lower(column) IN (...)`` selects
  (SQLite's ``lower`` folds ASCII letters only; the searches compare with the same Python
  ``str.lower`` values as before).
- The batches: the row ``(0, '', upto)`` is the high-water mark; every row with ``id <=
  upto`` has its three entries, written in the transaction that moves the mark. The write
  path (``AuditLog``) indexes the rows after the mark every ``FILL_EVERY`` rows, at most
  ``FILL_MAX`` at a time: in a ``db.write()`` block, in a transaction of its own just after
  the shared commit (``store.db.after_commit``), else in the transaction that appends; a
  search indexes them first when there are ``CATCH_UP_AT`` or more (a database written in
  bulk, or by a process that does not fill), and tests the newer ones directly.
- Searches test ``lower(column) IN (...)`` on every row they return as well, so an entry
  here can only narrow where to look, never admit a row; an edited row (tampering) gets the
  entries of its new values from a trigger, so it is found by them as before.

PostgreSQL keeps its ``lower()`` indexes (its commits are not limited by these pages).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, Table, Text

from opsroom.audit.fulltext import _has
from opsroom.store import Database
from opsroom.store.db import after_commit
from opsroom.store.driver import DriverTransaction

ACTOR, COMMAND, CHANNEL = 1, 2, 3  # ``field``; 0 is the high-water mark's row
FILL_EVERY = 512  # rows appended after the mark before the write path indexes them
FILL_MAX = 4096  # rows the write path indexes at most at once (a search does the rest)
CATCH_UP_AT = 2000  # rows after the mark a search tests directly before it indexes them

# Not on the shared metadata: it exists on SQLite only, made by its migration (like audit_fts).
audit_terms = Table(
    "audit_terms",
    MetaData(),
    Column("field", Integer, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("id", Integer, primary_key=True),
)

_HAS_TERMS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_terms'"
_MARK = "SELECT coalesce(max(id), 0) FROM audit_terms WHERE field = 0 AND value = ''"
_TOP = "SELECT coalesce(max(id), 0) FROM audit_log"
# Not sorted first: a batch's leaves stay in SQLite's page cache through the transaction, and
# sorting 1,536 entries cost more than it saved (≈ 7.7 against 6.0 µs a row with its commit).
_FILL = (
    "INSERT OR IGNORE INTO audit_terms (field, value, id) "
    "SELECT 1, lower(actor), id FROM audit_log WHERE id > ?1 AND id <= ?2 "
    "UNION ALL SELECT 2, lower(command), id FROM audit_log WHERE id > ?1 AND id <= ?2 "
    "UNION ALL SELECT 3, lower(channel), id FROM audit_log WHERE id > ?1 AND id <= ?2"
)
_SET_MARK = ("DELETE FROM audit_terms WHERE field = 0", "INSERT INTO audit_terms (field, value, id) VALUES (0, '', ?)")


def available(db: Database) -> bool:
    """Whether this database has ``audit_terms`` (SQLite, migrated to 0010_audit_terms)."""
    return _has(db, "sqlite", _HAS_TERMS)


def _batch(conn: Connection, most: int | None) -> tuple[int, int]:
    """The mark, and where a fill of at most ``most`` rows after it would leave it."""
    mark = int(conn.exec_driver_sql(_MARK).scalar() or 0)
    top = int(conn.exec_driver_sql(_TOP).scalar() or 0)
    if most is not None:
        top = min(top, mark + most)
    return mark, max(mark, top)


def fill(conn: Connection, most: int | None = None) -> int:
    """Index the rows after the mark (at most ``most`` of them) in ``conn``'s write
    transaction; returns the new mark."""
    mark, top = _batch(conn, most)
    if top == mark:
        return mark
    conn.exec_driver_sql(_FILL, (mark, top))
    conn.exec_driver_sql(_SET_MARK[0])
    conn.exec_driver_sql(_SET_MARK[1], (top,))
    return top


def after_append(conn: Connection) -> int:
    """The write path's batch (AuditLog, every ``FILL_EVERY`` rows): index up to
    ``FILL_MAX`` rows after the mark; returns the id at which to come back.

    Inside a ``db.write()`` block the fill waits for the shared commit and runs in a
    transaction of its own (``_fill_after_commit``): there it journals its ~100 pages once,
    in memory, instead of into the block's savepoint sub-journal, which spilled to a
    temporary file, and its failure fails no command. It indexes the rows committed by then
    (the newest included), so the mark stays exact; a commit that fails leaves the rows and
    the mark as they were. Elsewhere (``db.begin()``) it runs here, as before."""
    if conn.exec_driver_sql(_HAS_TERMS).first() is None:  # PostgreSQL never gets here
        return 2**62  # not migrated to 0010 (a database made by create_all)
    if not after_commit(conn, _fill_after_commit):
        return fill(conn, FILL_MAX) + FILL_EVERY
    # Where the fill will have left the mark (or beyond, with rows appended meanwhile).
    return _batch(conn, FILL_MAX)[1] + FILL_EVERY


def _fill_after_commit(conn: Connection) -> None:
    """``after_append``'s fill, in its own write transaction (``store.db.after_commit``).

    Its ``INSERT … SELECT`` needs a statement journal (SQLite keeps one for it even outside a
    savepoint), and past 64 KiB that went to a ``/var/tmp/etilqs_*`` file made, written and
    unlinked on the event loop: ``temp_store=MEMORY`` for this one transaction keeps it in
    memory. Only here: with it, SQLite journals in 1 KiB chunks instead of one 64 KiB
    buffer, which made every ``write()`` block's small savepoint slower. (A pragma SQLite
    reads when a write transaction begins: set before ours, reset after it.)"""
    raw: Any = conn.connection.driver_connection
    before = int(raw.execute("PRAGMA temp_store").fetchone()[0])
    raw.execute("PRAGMA temp_store=MEMORY")
    try:
        with DriverTransaction(conn):
            fill(conn, FILL_MAX)
    finally:
        raw.execute(f"PRAGMA temp_store={before}")


def indexed_upto(db: Database) -> int:
    """The high-water mark, after indexing the newer rows when there are many of them."""
    with db.read() as conn:
        mark = int(conn.exec_driver_sql(_MARK).scalar() or 0)
        top = int(conn.exec_driver_sql(_TOP).scalar() or 0)
    if top - mark < CATCH_UP_AT:
        return mark
    with db.begin() as conn:
        return fill(conn)
