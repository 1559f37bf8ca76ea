"""Opening the database: one SQLAlchemy engine, SQLite (WAL) or PostgreSQL, same code.

Database calls are synchronous and short (one transaction per state change); on SQLite they
run on the event loop thread on purpose: a writer thread was tried and lost (commands wait for
their writes in step, so the loop idled meanwhile; docs/performance.md, wave 6). On PostgreSQL
each statement is a round trip, so the per-command writes (``run_write``) go to a writer
thread instead (store/writer.py).

SQLite's WAL is copied back into the database file (checkpointed) by a thread of our own, not
by whichever commit crosses 1000 WAL pages (1–100 ms on the event loop: most of the p99).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from opsroom import jsontext
from opsroom.store import pgwrite
from opsroom.store.checkpoint import WAL_SIZE_LIMIT, WalCheckpointer
from opsroom.store.driver import DriverStatement as DriverStatement  # (callers import these from here)
from opsroom.store.driver import DriverTransaction, sqlite_do_begin
from opsroom.store.driver import driver_execute as driver_execute
from opsroom.store.driver import driver_executemany as driver_executemany
from opsroom.store.tables import metadata
from opsroom.store.writer import CommitFuture, WriteThread, committed

log = logging.getLogger(__name__)
T = TypeVar("T")
_GROUP = "opsroom.shared_group"  # Connection.info: the shared transaction it last served (_Group)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them;
    a bare path means an SQLite file."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# JSON columns (runs.args, runs.extra, audit details) are stored as ``json.dumps(value)``,
# SQLAlchemy's default; this writes the same text without building an encoder per value
# (jsontext). Both backends: psycopg is handed it as its JSON dumps function, and caches its
# dumper per function unless the function is a closure (then it warns, per connection, and
# makes a new one): the partial has no closure to look at.
JSON_TEXT = partial(jsontext.encoder())


def create_db_engine(url: str, *, sqlite_synchronous: str = "NORMAL", schema: str | None = None) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if not memory and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if memory else None,
            json_serializer=JSON_TEXT,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # pysqlite never begins on its own: sqlite_do_begin and DriverTransaction do, on the
            # driver; WAL lets readers run while we write.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if not memory:
                # New files get 2 KiB pages (a file keeps the size it was made with): a commit
                # writes each page it changed whole to the WAL, ~10 a command, little in each.
                cur.execute("PRAGMA page_size=2048")
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            if not memory:
                # Commits never checkpoint: WalCheckpointer does it off the event loop. Once
                # the WAL has been copied back, the next writer truncates it to this size.
                cur.execute("PRAGMA wal_autocheckpoint=0")
                cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        # Readers' deferred BEGIN, and none where a DriverTransaction began (see there).
        engine.dialect.do_begin = sqlite_do_begin  # type: ignore[method-assign,assignment]

        return engine

    connect_args = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args, json_serializer=JSON_TEXT
    )


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Database:
    """The engine plus the ways to write: ``with db.begin() as conn``, and on the
    per-command hot path ``async with db.write() as conn`` (shared commits)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checkpointer: WalCheckpointer | None = None
        # SQLite files keep one connection for writes, not a pool checkout and return per
        # transaction (a fifth of its cost); a nested or concurrent begin() finds it taken, pools.
        self._keep_writer = False
        self._writer: Connection | None = None
        self._writer_free = threading.Lock()
        self._local = threading.local()  # .group: this thread's open shared transaction
        # In-memory SQLite is one connection shared by everyone (StaticPool): a read's
        # reset-on-return would roll back a transaction left open across a loop turn, so
        # write() there commits at the end of its block, like begin().
        self._share_commits = True
        self._thread_writes = WriteThread(engine) if engine.dialect.name == "postgresql" else None
        # SQLite's write transactions are the driver's (store/driver.DriverTransaction).
        self._sqlite = engine.dialect.name == "sqlite"
        if engine.dialect.name == "sqlite":
            if engine.url.database in (None, "", ":memory:"):
                self._share_commits = False
            else:
                self.checkpointer = WalCheckpointer(str(engine.url.database), owner=self)
                self._keep_writer = True

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, apart: bool = False, **kwargs: object) -> Database:
        """``apart``: a schema that is behind is upgraded in a child process, so this one never
        imports Alembic (``opsroom run``: opsroom.store.migrate_apart); an in-memory database,
        which a child cannot see, is upgraded here."""
        engine = create_db_engine(url, **kwargs)  # type: ignore[arg-type]
        if migrate and apart and engine.url.database not in (None, "", ":memory:"):
            from opsroom.store.migrate_apart import upgrade_apart

            try:  # before the Database starts its threads (SQLite's checkpointer): a fork sees none
                upgrade_apart(url, engine=engine, engine_options=kwargs)
            except BaseException:
                engine.dispose()
                raise
            return cls(engine)
        db = cls(engine)
        if migrate:
            db.migrate()
        return db

    def migrate(self) -> None:
        from opsroom.store.migrate import upgrade

        upgrade(self.engine)

    def create_all(self) -> None:
        """Create every table straight from the metadata (tests; Alembic is the real path)."""
        import opsroom.store.schema  # noqa: F401  (registers every module's tables)

        metadata.create_all(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        group = getattr(self._local, "group", None)
        if group is not None and not group.busy:
            # A shared transaction of this thread holds the write lock: commit it first, or
            # this transaction would wait for a commit that only this thread can make.
            self._flush(group)
        if self._keep_writer and self._writer_free.acquire(blocking=False):
            try:
                with DriverTransaction(self._take_writer()) as writer:
                    yield writer
            finally:
                self._writer_free.release()
            return
        with self.engine.connect() as conn:
            if self._sqlite:
                with DriverTransaction(conn):
                    yield conn
            else:
                with conn.begin():
                    yield conn

    def write(self) -> SharedWrite:
        """``async with db.write() as conn``: a write transaction for the per-command hot
        path, shared with the other ``write()`` blocks of the same event-loop turn and
        committed once for all of them (group commit).

        Leaving the block waits for that commit, so what the block wrote is durable when it
        returns, exactly as after ``begin()``. A block that raises has its own writes rolled
        back (a savepoint) and leaves the others' alone. The block must not await: it runs
        inside the shared transaction."""
        return SharedWrite(self)

    async def run_write(self, fn: Callable[[Connection], T], *, new_runs: int = 0) -> T:
        """``fn(conn)`` in a write transaction, durable when this returns, as in ``write()``.

        The per-command writes use it. SQLite runs ``fn`` in a ``write()`` block on the loop
        (see the module); PostgreSQL on its writer thread, grouped with the writes queued
        meanwhile (store/writer.py). ``fn`` writes only through ``conn``. ``new_runs``: how
        many run rows ``fn`` inserts (PostgreSQL draws their ids with the group's first trip)."""
        if self._thread_writes is not None:
            return await self._thread_writes.run(fn, new_runs)
        async with self.write() as conn:
            return fn(conn)

    def first_in_each_group(self, key: str, start: pgwrite.GroupStart) -> None:
        """PostgreSQL: what each writer group starts with (store/pgwrite.GroupStart: asked in
        its first trip or guessed); ``pgwrite.answer(conn, k)`` gives the rows named ``k``."""
        if self._thread_writes is not None:
            self._thread_writes.first[key] = start

    def _take_writer(self) -> Connection:
        """The kept write connection; the caller holds ``_writer_free``."""
        writer = self._writer
        if writer is None or writer.closed or writer.invalidated:
            writer = self._writer = self.engine.connect()
        else:
            if writer.get_transaction() is not None:  # used after its block ended: not ours to keep
                writer.rollback()
            raw: Any = writer.connection.driver_connection
            if raw.in_transaction:  # a failed COMMIT (a deferred constraint) leaves it open
                raw.rollback()
        return writer

    def _open_group(self) -> _Group:
        loop = asyncio.get_running_loop()
        kept = self._keep_writer and self._writer_free.acquire(blocking=False)
        try:
            conn = self._take_writer() if kept else self.engine.connect()
            try:
                txn = DriverTransaction(conn) if self._sqlite else conn.begin()
            except BaseException:
                if not kept:
                    conn.close()
                raise
        except BaseException:
            if kept:
                self._writer_free.release()
            raise
        group = _Group(conn, txn, CommitFuture(loop=loop), kept)
        self._local.group = group
        if self._sqlite:
            conn.info[_GROUP] = group  # (see after_commit)
        loop.call_soon(self._flush, group)
        return group

    def _close_group(self, group: _Group) -> bool:
        """Take ``group`` off this thread; False when it was closed already."""
        if group.closed:
            return False
        group.closed = True
        if getattr(self._local, "group", None) is group:
            self._local.group = None
        return True

    def _release(self, group: _Group) -> None:
        if group.kept:
            self._writer_free.release()
        else:
            group.conn.close()

    def _flush(self, group: _Group) -> None:
        """Commit a shared transaction and tell its writers (the loop calls this once per
        turn; ``begin()`` calls it early)."""
        if group.busy:  # a block is awaiting inside it, which it must not: commit after it
            asyncio.get_running_loop().call_soon(self._flush, group)
            return
        if not self._close_group(group):
            return
        try:
            group.txn.commit()
        except BaseException as err:
            try:
                group.txn.rollback()
            except Exception:  # the connection is gone; the commit error is what matters
                log.debug("rollback after failed group commit failed", exc_info=True)
            if isinstance(err, Exception):
                group.done.set_exception(err)
            else:  # KeyboardInterrupt and the like: the writers learn, the loop stops
                group.done.set_exception(RuntimeError(f"commit interrupted: {err!r}"))
                raise
        else:
            group.done.set_result(None)
            if group.after is not None:
                _run_after_commit(group)
        finally:
            self._release(group)

    def _abandon(self, group: _Group) -> None:
        """The first block of a shared transaction failed, before anyone joined it."""
        if not self._close_group(group):
            return
        try:
            group.txn.rollback()
        finally:
            group.done.set_result(None)
            self._release(group)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        group = getattr(self._local, "group", None)
        if group is not None and not group.busy:
            self._flush(group)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._thread_writes is not None:
            self._thread_writes.stop()
        if self._writer_free.acquire(blocking=False):  # (not while a transaction uses it)
            try:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            finally:
                self._writer_free.release()
        self.engine.dispose()


def after_commit(conn: Connection, fn: Callable[[Connection], None]) -> bool:
    """SQLite: run ``fn(conn)`` once the shared transaction ``conn`` serves has committed,
    on the same connection before it is released (the writers already know their commit);
    ``fn`` begins and ends its own transaction (``DriverTransaction``). False, and nothing
    scheduled, when ``conn`` is in no open shared transaction (``begin()``, in-memory SQLite,
    PostgreSQL).

    For work that must not run inside a ``write()`` block's savepoint, nor fail the block:
    audit/terms.py's batch fill. Nothing runs when the shared commit fails; ``fn``'s own
    failure is logged (its transaction rolls back)."""
    if conn.dialect.name != "sqlite":
        return False
    group = conn.info.get(_GROUP)
    if group is None or group.closed or group.conn is not conn:
        return False
    if group.after is None:
        group.after = []
    if fn not in group.after:
        group.after.append(fn)
    return True


def _run_after_commit(group: _Group) -> None:
    for fn in group.after or ():
        try:
            fn(group.conn)
        except Exception:  # (the group's writes are committed: this must not undo them)
            log.warning("work after a shared commit failed", exc_info=True)


class _Group:
    """One write transaction shared by the ``write()`` blocks of an event-loop turn."""

    __slots__ = ("conn", "raw", "txn", "done", "kept", "busy", "closed", "after")

    def __init__(self, conn: Connection, txn: Any, done: asyncio.Future[None], kept: bool) -> None:
        self.conn = conn
        # SQLite: the driver connection, for the blocks' savepoints (DriverTransaction's).
        self.raw: Any = txn.raw if txn.__class__ is DriverTransaction else None
        self.txn = txn
        self.done = done
        self.kept = kept  # the Database's kept writer (else a pooled connection)
        self.busy = False  # a block is running inside it
        self.closed = False
        self.after: list[Callable[[Connection], None]] | None = None  # see after_commit


def _savepoint(raw: Any, sql: str) -> None:
    """A block's SAVEPOINT, RELEASE or ROLLBACK TO, on the driver connection itself (1.8
    savepointed blocks a command with 20 at once): ``driver_execute``'s way there through
    SQLAlchemy's Connection cost ≈ 0.5 µs a block (docs/performance.md, "Wave 10 — terms")."""
    try:
        raw.execute(sql)
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(sql, (), err, sqlite3.Error) from err


class SharedWrite:
    """What ``Database.write()`` returns; see there."""

    __slots__ = ("db", "group", "savepoint", "plain")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.group: _Group | None = None
        self.savepoint: Any = None
        self.plain: Any = None  # a begin() context, where commits are not shared

    async def __aenter__(self) -> Connection:
        db = self.db
        if not db._share_commits:
            self.plain = db.begin()
            return self.plain.__enter__()  # type: ignore[no-any-return]
        group = getattr(db._local, "group", None)
        if group is None:
            group = db._open_group()  # the first block needs no savepoint: it is alone
        elif group.busy:
            raise RuntimeError("a db.write() block awaited inside another one")
        elif group.raw is not None:
            _savepoint(group.raw, "SAVEPOINT opsroom_shared")
            self.savepoint = True
        else:  # SQLAlchemy's savepoint, whose events the audit log listens to
            self.savepoint = group.conn.begin_nested()
        group.busy = True
        self.group = group
        return group.conn

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.plain is not None:
            self.plain.__exit__(exc_type, exc, tb)
            return
        group = self.group
        assert group is not None
        group.busy = False
        sp = self.savepoint
        if exc_type is not None:
            if sp is None:
                self.db._abandon(group)
            elif sp is True:
                _savepoint(group.raw, "ROLLBACK TO opsroom_shared")
                _savepoint(group.raw, "RELEASE opsroom_shared")
            else:
                sp.rollback()
            return
        if sp is True:
            _savepoint(group.raw, "RELEASE opsroom_shared")
        elif sp is not None:
            sp.commit()
        await committed(group.done)
