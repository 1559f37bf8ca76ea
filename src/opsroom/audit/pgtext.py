"""PostgreSQL: the text word searches match, in a side table filled after the chain's commits
(``audit_search``, migration 0011_pg_search_side).

Until 0011 it was ``audit_log.search_text``, a generated column under a pg_trgm GIN index
(0009): every appended row paid its trigram inserts inside the audit chain's advisory lock,
the largest piece of a writer group's server time (docs/performance.md, "Wave 10 — pg10").
``audit_search (id, search_text)`` holds the same text (summary, command and the detail's
JSON text joined by U+001F, as stored) under the same index, copied in batches by a thread
of its own after the rows are committed, outside the chain's lock:

- The mark is ``max(id)`` of ``audit_search``: every audit row up to it has its text there.
  A fill copies the rows after the mark up to ``max(id)`` of ``audit_log`` in one
  transaction. The chain hands out ids under its lock, held to its commit, so every row up
  to the newest committed one is committed too; the copy is complete up to its top.
- Several replicas may fill at once: a fill first takes an advisory lock of its own
  (``pg_try_advisory_xact_lock``, per schema; a fill that does not get it does nothing) and
  inserts ``ON CONFLICT (id) DO NOTHING``. After a crash the next fill resumes at the mark.
- The write path (``AuditLog``) wakes the filler every ``FILL_EVERY`` appended rows; a
  search fills first when ``CATCH_UP_AT`` or more rows are past the mark (a database
  written in bulk, or by a process that does not fill) and tests the newer rows on
  ``audit_log`` itself, so it always sees every row.
- An edited row (tampering, a correction) gets its new text from a trigger, which takes the
  fill's lock first: a fill under way commits before the text is replaced, and none copies
  the old text meanwhile.
"""

from __future__ import annotations

import logging
import threading
import weakref

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, Table, Text

from opsroom.audit.fulltext import _has
from opsroom.store import Database

log = logging.getLogger(__name__)

FILL_EVERY = 512  # rows appended after the last wake-up before the write path wakes the filler
FILL_MAX = 4096  # rows one fill transaction copies at most
CATCH_UP_AT = 1000  # rows past the mark a search tests directly before it fills first
IDLE = 2.0  # seconds without a wake-up after which the filler's thread ends

# Not on the shared metadata: PostgreSQL only, made by its migration (like audit_fts on SQLite).
audit_search = Table(
    "audit_search",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("search_text", Text, nullable=False),
)

# 0009_audit_search_text's expression; ``{row}`` is ``audit_log`` or a trigger's ``NEW``.
TEXT_OF = "{row}.summary || E'\\x1f' || {row}.command || E'\\x1f' || CAST({row}.detail AS TEXT)"
# The fill's own lock (the two-key form: the second key is the schema, so test and bench
# schemas sharing a database do not skip each other's fills). The migration's trigger takes it.
LOCK_KEYS = "1869640564, hashtext(current_schema())"

_HAS_SIDE = (
    "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'audit_search'"
)
_LOCK = f"SELECT pg_try_advisory_xact_lock({LOCK_KEYS})"
_MARK = "SELECT coalesce(max(id), 0) FROM audit_search"
_TOP = "SELECT coalesce(max(id), 0) FROM audit_log"
_FILL = (
    "INSERT INTO audit_search (id, search_text) SELECT id, "  # noqa: S608 (constants only)
    + TEXT_OF.format(row="audit_log")
    + " FROM audit_log WHERE id > %s AND id <= %s ON CONFLICT (id) DO NOTHING"
)


def available(db: Database) -> bool:
    """Whether this database has ``audit_search`` (PostgreSQL, migrated to 0011_pg_search_side)."""
    return _has(db, "postgresql", _HAS_SIDE)


def mark(conn: Connection) -> int:
    """Every audit row up to this id has its text in ``audit_search``."""
    return int(conn.exec_driver_sql(_MARK).scalar() or 0)


def fill(conn: Connection, most: int | None = FILL_MAX) -> tuple[int, int] | None:
    """Copy the rows after the mark (at most ``most``) in ``conn``'s transaction; the new
    mark and ``audit_log``'s top, or None when another fill holds the lock."""
    if not conn.exec_driver_sql(_LOCK).scalar():
        return None
    # audit_log before audit_search, the order DROP SCHEMA … CASCADE locks them in (their
    # creation order): the other order deadlocked with it when a test's schema was dropped.
    top = int(conn.exec_driver_sql(_TOP).scalar() or 0)
    low = mark(conn)
    upto = top if most is None else min(top, low + most)
    if upto > low:
        conn.exec_driver_sql(_FILL, (low, upto))
    return max(low, upto), top


def catch_up(engine: Engine) -> None:
    """Fill until fewer than ``FILL_EVERY`` rows are past the mark (or another fill runs);
    nothing on a database without ``audit_search`` (asked each time: the write path wakes
    the filler without asking, and a database may be migrated while its engine lives)."""
    while True:
        with engine.connect() as conn, conn.begin():
            if conn.exec_driver_sql(_HAS_SIDE).first() is None:
                return
            done = fill(conn)
        if done is None or done[1] - done[0] < FILL_EVERY:
            return


def indexed_upto(db: Database) -> int:
    """The mark a search goes by, after filling when many rows are past it."""
    with db.read() as conn:
        low = mark(conn)
        top = int(conn.exec_driver_sql(_TOP).scalar() or 0)
    if top - low < CATCH_UP_AT:
        return low
    with db.begin() as conn:
        done = fill(conn, None)
    if done is not None:  # (the fill's own new mark: no second read)
        return done[0]
    with db.read() as conn:  # another fill held the lock: the mark as it stands
        return mark(conn)


class _Filler:
    """One engine's fill thread, started by a wake-up and ended after ``IDLE`` seconds
    without one; its fills run on a pooled connection of their own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        with self._lock:
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="opsroom-audit-search-fill", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(IDLE):
                with self._lock:  # (a wake-up just now: go on, else this thread ends)
                    if not self._wake.is_set():
                        self._thread = None
                        return
            self._wake.clear()
            engine = self._engine()
            if engine is None:
                return
            try:
                catch_up(engine)
            except Exception:  # searches test the rows past the mark: nothing is missed
                log.warning("filling audit_search failed", exc_info=True)
            del engine


_fillers: weakref.WeakKeyDictionary[Engine, _Filler] = weakref.WeakKeyDictionary()
_fillers_lock = threading.Lock()


def after_append(db: Database, last_id: int) -> int:
    """The write path, every ``FILL_EVERY`` rows: wake this engine's filler (it copies what
    is committed by then, after the chain's commit and outside its lock); returns the id at
    which to come back."""
    with _fillers_lock:
        filler = _fillers.get(db.engine)
        if filler is None:
            filler = _fillers[db.engine] = _Filler(db.engine)
    filler.wake()
    return last_id + FILL_EVERY
