"""Appending to the audit log, in the caller's transaction.

The caller passes the connection of the transaction that makes the state change the entry
records, so the entry and the change commit (or vanish) together.

Keeping one chain with several writers:

- SQLite: the engine's transactions start with BEGIN IMMEDIATE, so writers take turns. We
  keep the tail (last id and hash) in memory and skip reading it: the INSERT itself checks,
  row by row, that its predecessor is the newest row and carries the hash we linked to, and
  fails (a NULL hash) otherwise, writing nothing. When the check fails (another process wrote, or our own
  transaction rolled back) we read the tail and insert again — correctness never depends on
  the cache.
- PostgreSQL: the first append in a transaction takes ``pg_advisory_xact_lock`` (held to
  commit or rollback) and then reads the tail; later appends in the same transaction reuse
  it. A rollback to a savepoint forgets it. A writer group (store/writer.py) may instead
  start from the tail this process's previous group leaves (``_PgGroupStart``): its one trip takes
  the lock and then checks on the server that the newest row is still that one, and aborts
  before its COMMIT otherwise (then the group runs again, reading the tail) — correctness
  never depends on the guess.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Connection, event, select
from sqlalchemy import exc as sa_exc

from opsroom.audit import export as _export
from opsroom.audit import pgtext as _pgtext
from opsroom.audit import search as _search
from opsroom.audit import terms as _terms
from opsroom.audit.chain import (
    ZERO_HASH,
    AuditEntry,
    AuditRecord,
    LinkRow,
    prepare_many,
    ts_text,
)
from opsroom.audit.query import AuditQuery, parse_query
from opsroom.audit.verify import VerifyReport, verify_db
from opsroom.audit.visibility import AuditScope
from opsroom.errors import InternalError
from opsroom.policy import redaction
from opsroom.policy.redaction import Redactor
from opsroom.store import Database, pgwrite, run_audit
from opsroom.store.db import driver_executemany
from opsroom.store.tables import audit_log

# Fixed key for pg_advisory_xact_lock: every opsroom process appending to this database
# takes the same one. ASCII "opsrooma".
PG_LOCK_KEY = 0x6F7073726F6F6D61
_PG_STATE = "opsroom.audit.tail"  # conn.info key: (transaction, last id, last hash)

_COLUMNS = [
    "id",
    "ts",
    "actor",
    "action",
    "command",
    "platform",
    "channel",
    "run_id",
    "summary",
    "detail",
    "prev_hash",
    "hash",
]


def _sqlite_insert_sql() -> str:
    """INSERT … VALUES (<row>, CASE WHEN <the newest row is our predecessor> THEN <hash> END).

    Every row checks that the newest row is ``(id - 1, prev_hash)``, or that the table is
    empty and it is row 1 linking to the zero hash. When it is not, its ``hash`` is NULL and
    the NOT NULL constraint aborts the statement (nothing of the row is written): the append
    reads the real tail and tries once more. The check sits in a VALUES row rather than in
    the WHERE of an ``INSERT … SELECT``, because an INSERT whose SELECT reads the table it
    writes first copies its result into a temporary table: that doubled the cost of a row
    (≈ 7.0 against ≈ 3.6 µs; docs/performance.md, "Wave 9 — guard").

    ``?1`` … ``?12`` are the row's values in ``_COLUMNS`` order (numbered, so the guard reuses
    ``id`` and ``prev_hash`` without passing them twice). ``ts`` goes in as the text
    SQLAlchemy itself would store for a DateTime on SQLite, and ``detail`` as its canonical
    JSON text: the exact bytes that were hashed, with no second serialisation.
    """
    if len(_COLUMNS) != 12 or _COLUMNS[0] != "id" or _COLUMNS[-2:] != ["prev_hash", "hash"]:
        raise AssertionError("the audit insert numbers its values in _COLUMNS order")
    empty = f"?1 = 1 AND ?11 = '{ZERO_HASH}' AND NOT EXISTS (SELECT 1 FROM audit_log)"  # noqa: S608 (constants only)
    guard = f"(SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1) = (?1 - 1, ?11) OR ({empty})"  # noqa: S608
    values = ", ".join(f"?{i}" for i in range(1, len(_COLUMNS)))
    return (
        f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) "  # noqa: S608 (no values in it)
        f"VALUES ({values}, CASE WHEN {guard} THEN ?12 END)"
    )


_SQLITE_INSERT = _sqlite_insert_sql()


def _stale_tail(err: sa_exc.DBAPIError) -> bool:
    """Whether the guarded insert failed its check (its ``hash`` came out NULL)."""
    return isinstance(err.orig, sqlite3.IntegrityError) and "audit_log.hash" in str(err.orig)


_PG_ROW = "(" + ", ".join("%s::json" if c == "detail" else "%s" for c in _COLUMNS) + ")"


@functools.cache
def _pg_insert_sql(n: int) -> str:
    """The INSERT of ``n`` audit rows in one statement, as driver SQL (positional ``%s``)."""
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    return f"INSERT INTO audit_log ({columns}) VALUES {', '.join([_PG_ROW] * n)}"  # noqa: S608 (no values in it)


_ROW_IS_THERE = "SELECT 1 FROM audit_log WHERE id = ? AND hash = ?"
_TAIL = select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
# Sent as two statements of one simple-protocol query: each takes its own snapshot (READ
# COMMITTED), so the tail is read after the lock is held.
_PG_LOCK = f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})"
_PG_TAIL = "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
_TAIL_KEY = "opsroom.audit.tail"
# Run after the lock, in its own snapshot: the guessed tail must still be the newest row.
_PG_CHECK = (
    "DO $$DECLARE i bigint; h text; BEGIN "
    "SELECT id, hash INTO i, h FROM audit_log ORDER BY id DESC LIMIT 1; "
    "IF i IS DISTINCT FROM {id} OR h IS DISTINCT FROM '{hash}' THEN "
    "RAISE EXCEPTION 'opsroom: the audit chain moved on' USING ERRCODE = '{code}'; END IF; END$$"
)
_HASH = re.compile(r"[0-9a-f]{64}")


class _PgGroupStart:
    """The audit chain's part of every PostgreSQL writer group (store/pgwrite.GroupStart):
    the lock and the tail read, or the tail this process's last group committed, checked."""

    def __init__(self) -> None:
        self.ask: list[pgwrite.Statement] = [(_PG_LOCK, (), None), (_PG_TAIL, (), _TAIL_KEY)]
        self._tail: tuple[int, str] | None = None  # what the last group sent leaves

    def guess(self) -> tuple[list[pgwrite.Statement], dict[str, pgwrite.Rows]] | None:
        if self._tail is None:
            return None
        last_id, last_hash = self._tail
        if not _HASH.fullmatch(last_hash):  # (our own hex digest; written into the SQL)
            return None
        check = _PG_CHECK.format(id=int(last_id), hash=last_hash, code=pgwrite.GUESS_MISSED)
        return [(_PG_LOCK, (), None), (check, (), None)], {_TAIL_KEY: [(last_id, last_hash)]}

    def prepared(self, conn: Connection, guessed: bool) -> None:
        state = conn.info.get(_PG_STATE)
        if state is not None and state[0] is conn.get_transaction():
            self._tail = (state[1], state[2])  # this group appended: its last row
        elif not guessed:
            self._tail = None  # asked and appended nothing: nothing known to guess from
        # (guessed and appended nothing: the checked tail is still the newest row)

    def forget(self) -> None:
        self._tail = None


class AuditChainError(InternalError, RuntimeError):
    """The chain could not be extended safely (someone writes without taking the lock)."""


def _forget_tail(conn: Connection, *_args: Any) -> None:
    conn.info.pop(_PG_STATE, None)


class AuditLog:
    """The audit trail: append in the caller's transaction; verify, search, export."""

    def __init__(self, db: Database, *, timezone: str = "UTC", redactor: Redactor | None = None) -> None:
        self.db = db
        # Every summary and detail goes through it before it is hashed and stored (None: the
        # process's current one, built-in shapes until the running system installs its own).
        self.redactor = redactor
        self.timezone = timezone  # what "yesterday" and "last tuesday" mean in searches
        self._postgres = db.engine.dialect.name == "postgresql"
        # SQLite only (id, hash, time of the newest row); PostgreSQL keeps it per transaction
        self._tail: tuple[int, str, datetime] | None = None
        self._terms_due = 0  # the id at which to fill audit_terms (SQLite) / audit_search (PostgreSQL)
        if self._postgres:
            for name in ("rollback", "rollback_savepoint"):
                if not event.contains(db.engine, name, _forget_tail):
                    event.listen(db.engine, name, _forget_tail)
            # Nearly every writer group appends: its first trip takes the lock and reads the tail.
            db.first_in_each_group(_TAIL_KEY, _PgGroupStart())

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        command: str = "",
        platform: str = "",
        channel: str = "",
        run_id: int | None = None,
        summary: str = "",
        detail: Mapping[str, Any] | None = None,
        ts: datetime | None = None,
    ) -> int:
        """Append one step; returns its id (its position in the chain)."""
        rec = AuditRecord(actor, action, command, platform, channel, run_id, summary, detail, ts)
        return self.append_many(conn, (rec,))[0]

    def append_many(
        self, conn: Connection, entries: Sequence[AuditRecord], *, covered: tuple[int, int, int] | None = None
    ) -> list[int]:
        """Append several steps in one statement, in order; returns their ids.

        SQLite: each run the rows name gets its recorded audit id range widened to them
        (store/run_audit.py), but not run ``covered[0]`` if its rows lie within ids
        ``covered[1]``..``covered[2]``, which its run row records in this transaction."""
        if not entries:
            return []
        now = datetime.now(UTC)
        redactor = self.redactor or redaction.current()
        # One look at all the rows' texts (summaries, detail strings): they almost never hold
        # anything to mask, and then each row is stored as given; else each row is redacted.
        values: list[Any] = [rec.summary for rec in entries]
        values.extend(rec.detail for rec in entries if rec.detail)
        if not redactor.all_clean_values(values):
            entries = [self._redacted(rec) for rec in entries]
        if self._postgres:
            return self._append_postgres(conn, prepare_many(entries, now, ts_text(now)))
        ids = self._append_sqlite(conn, entries, now)
        run_audit.widen(conn, [rec.run_id for rec in entries], ids, covered)
        return ids

    def next_id_guess(self) -> int | None:
        """SQLite: the id the next appended row will most likely get (the cached tail's
        next; None when not known). A guess: ``covered`` checks it against the real ids."""
        return None if self._tail is None else self._tail[0] + 1

    def _redacted(self, rec: AuditRecord) -> AuditRecord:
        redactor = self.redactor or redaction.current()
        detail = rec.detail
        if detail:  # clean() gives a new dict: a dict needs no copy first
            detail = redactor.clean(detail if detail.__class__ is dict else dict(detail))
        summary = redactor(rec.summary)
        if summary == rec.summary and detail == rec.detail:
            return rec  # nothing masked (most rows): no copy
        return dataclasses.replace(rec, summary=summary, detail=detail)

    def _append_sqlite(self, conn: Connection, entries: Sequence[AuditRecord], now: datetime) -> list[int]:
        # The rows are stamped no earlier than the tail they link to (store/time_order.py):
        # the guard below checks that tail's hash, which covers its time, so a stale cache
        # cannot let a row in out of order.
        tail = self._tail if self._tail is not None else _read_sqlite_tail(conn)
        rows = _in_time_order(entries, now, tail[2])
        params, new_tail = _link(rows, tail[:2], sqlite=True)
        try:
            driver_executemany(conn, _SQLITE_INSERT, params)
        except sa_exc.DBAPIError as err:
            if not _stale_tail(err):
                raise
            # A row's check failed. Within one call each row links to the one before it,
            # so in a transaction only the first can fail (the write lock is held from the
            # first row on): nothing was written. The cached tail was stale (another process
            # wrote, or our own transaction rolled back): read the real one and try once more.
            tail = _read_sqlite_tail(conn)
            first_in = conn.exec_driver_sql(_ROW_IS_THERE, (params[0][0], params[0][-1])).first()
            if first_in is not None:  # some rows went in (no transaction?): never write twice
                self._tail = None
                raise AuditChainError(
                    "a later row of one audit append failed its chain check: the audit log "
                    "is being changed outside a locking transaction; roll back and retry"
                ) from err
            rows = _in_time_order(entries, now, tail[2])
            params, new_tail = _link(rows, tail[:2], sqlite=True)
            try:
                driver_executemany(conn, _SQLITE_INSERT, params)
            except sa_exc.DBAPIError as again:
                if not _stale_tail(again):
                    raise
                self._tail = None
                raise AuditChainError(
                    f"could not append {len(rows)} audit rows: another writer is changing the "
                    f"audit log outside a locking transaction; roll back and retry"
                ) from again
        self._tail = (*new_tail, rows[-1][0])
        if new_tail[0] >= self._terms_due:  # every FILL_EVERY rows: index them (audit/terms.py)
            self._terms_due = _terms.after_append(conn)
        return [p[0] for p in params]

    def _append_postgres(self, conn: Connection, rows: list[LinkRow]) -> list[int]:
        txn = conn.get_transaction()
        state = conn.info.get(_PG_STATE)
        if txn is not None and state is not None and state[0] is txn:
            tail: tuple[int, str] = (state[1], state[2])
        else:
            # The lock waits for any other appender's transaction to end; the tail is read by
            # a second statement of the same trip, so with a snapshot taken after the lock.
            # A writer group asked both in its first trip (see __init__): its answer, once.
            found = pgwrite.answer(conn, _TAIL_KEY)
            if found is None:
                found = pgwrite.fetch(conn, _PG_TAIL, first=(_PG_LOCK,))
            txn = conn.get_transaction()
            tail = (0, ZERO_HASH) if not found else (int(found[0][0]), found[0][1])
        params, new_tail = _link(rows, tail, sqlite=False)
        # One multi-row INSERT, held back on the writer thread to share a round trip.
        # (psycopg's executemany pipelines the rows, and its wait in pipeline mode polled the
        # socket: ~1 ms of CPU per command.)
        pgwrite.later(conn, _pg_insert_sql(len(params)), tuple(v for p in params for v in p), merge=True)
        conn.info[_PG_STATE] = (txn, *new_tail)
        if new_tail[0] >= self._terms_due:  # every FILL_EVERY rows: wake audit_search's filler
            self._terms_due = _pgtext.after_append(self.db, new_tail[0])
        return [p[0] for p in params]

    # -- reading -------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The newest row's id and hash ((0, 64 zeros) when empty): record it elsewhere to
        be able to notice rows cut off the end."""
        with self.db.read() as conn:
            return _read_tail(conn)

    def verify(self, *, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        return verify_db(self.db, progress)

    def parse(self, text: str, now: datetime | None = None) -> AuditQuery:
        return parse_query(text, now, tz=self.timezone)

    def search(
        self,
        query: AuditQuery | str,
        *,
        limit: int = 50,
        before_id: int | None = None,
        now: datetime | None = None,
        scope: AuditScope | None = None,
    ) -> list[AuditEntry]:
        """Newest first. A string is parsed first (ParseError on bad input). ``scope``: only
        what that person may see (``visibility.scope_for``); None = everything, for the
        server's own command line."""
        if isinstance(query, str):
            query = self.parse(query, now)
        return _search.search(self.db, query, limit=limit, before_id=before_id, scope=scope)

    def export(
        self,
        fp: TextIO,
        query: AuditQuery | str | None = None,
        *,
        scope: AuditScope | None = None,
    ) -> int:
        """JSON Lines, oldest first, hashes included; returns how many entries."""
        if isinstance(query, str):
            query = self.parse(query)
        return _export.export(self.db, fp, query, scope=scope)

    def export_lines(
        self,
        query: AuditQuery | None = None,
        *,
        scope: AuditScope | None = None,
    ) -> Iterator[str]:
        """The export one line at a time (for streaming it over HTTP)."""
        return _export.lines(self.db, query, scope=scope)

    def for_run(self, run_id: int) -> list[AuditEntry]:
        return _search.for_run(self.db, run_id)


def _read_tail(conn: Connection) -> tuple[int, str]:
    row = conn.execute(_TAIL).first()
    return (0, ZERO_HASH) if row is None else (int(row.id), row.hash)


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_SQLITE_TAIL = select(audit_log.c.id, audit_log.c.hash, audit_log.c.ts).order_by(audit_log.c.id.desc()).limit(1)


def _read_sqlite_tail(conn: Connection) -> tuple[int, str, datetime]:
    row = conn.execute(_SQLITE_TAIL).first()
    return (0, ZERO_HASH, _EARLIEST) if row is None else (int(row.id), row.hash, row.ts)


def _in_time_order(entries: Sequence[AuditRecord], now: datetime, floor: datetime) -> list[LinkRow]:
    """``prepare_many`` with no row earlier than ``floor`` (the tail's time) or the row
    before it: a clock stepped back (or an earlier ``AuditRecord.ts``) gives the later time."""
    if now < floor:
        now = floor
    return prepare_many(entries, now, ts_text(now), floor)


def _link(
    rows: list[LinkRow],
    tail: tuple[int, str],
    *,
    sqlite: bool,
) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    """Number and hash the rows after ``tail``: one tuple per row in ``_COLUMNS`` order,
    and the new tail. (Each row's hash text but for its id and predecessor was written once
    by ``prepare_many``: a retry after a stale tail links the same rows again.)"""
    last_id, last_hash = tail
    last_id = int(last_id)  # (an exact int: its f-string text is int.__repr__'s)
    out: list[tuple[Any, ...]] = []
    sha256 = hashlib.sha256
    for ts, stored_ts, values, middle in rows:
        last_id += 1
        # entry_hash's text (an exact int written as int.__repr__ writes it) from the middle
        # prepare_many wrote once (tests/unit/audit/test_audit_append_oracle.py compares)
        digest = sha256(f'[{last_id}{middle}{last_hash}"]'.encode("utf-8", "surrogatepass")).hexdigest()
        # SQLite gets SQLAlchemy's own DateTime text; PostgreSQL takes the aware datetime.
        out.append((last_id, stored_ts if sqlite else ts, *values, last_hash, digest))
        last_hash = digest
    return out, (last_id, last_hash)
