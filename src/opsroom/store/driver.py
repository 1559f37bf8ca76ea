"""The per-command hot path's statements, sent to the database driver's own cursor:
SQL compiled once (``DriverStatement``) with SQLAlchemy's bind processors applied.

For the few statements every command runs (run rows, audit rows, the delivery marker),
SQLAlchemy's per-execution work costs more than the SQLite statement itself."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from opsroom.store import pgwrite
from opsroom.store.binds import bind_processor


def driver_execute(conn: Connection, sql: str, params: Sequence[Any]) -> Any:
    """Run SQL already compiled for this connection's dialect on the driver's own cursor.

    For the few statements every command runs (run rows, audit rows): SQLAlchemy's
    per-execution work costs more than the SQLite statement. Errors come out as SQLAlchemy's
    (``IntegrityError``…) as they would from ``conn.execute``. The caller is inside
    ``Database.begin()`` or ``write()``, so the transaction is SQLAlchemy's as usual."""
    checkout = conn.connection  # (once: conn.info and the driver are both behind it)
    if checkout.info.get(pgwrite.HELD):  # a PostgreSQL writer group: what it holds back goes first
        pgwrite.send_held(conn)
    try:
        return checkout.driver_connection.execute(sql, params)  # type: ignore[union-attr]
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(sql, params, err, sqlite3.Error) from err


_Compiled = tuple[str, tuple[str, ...], tuple[Any, ...]]  # SQL, parameter names, processors
# SQL; the values in placeholder order (a list, in C); the placeholders with a processor.
_Plan = tuple[str, Callable[[dict[str, Any]], list[Any]], tuple[tuple[int, Any], ...]]


class DriverStatement:
    """A Core INSERT or UPDATE compiled once per set of columns to the SQLite driver's SQL.

    ``execute(conn, values)`` puts the values in placeholder order with SQLAlchemy's own
    bind processors applied (JSON text, DateTime text, booleans), so what is stored is
    exactly what ``conn.execute(statement, values)`` stores, and runs it on the driver.
    On PostgreSQL callers take ``bound`` and send it through store/pgwrite.py."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}  # by dialect and keys
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}  # the same, for ``bound``

    def compiled(self, conn: Connection, keys: tuple[str, ...]) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get((dialect.name, keys))
        if found is None:
            # psycopg's SQLAlchemy dialect names its parameters (%(name)s); the driver takes
            # positional %s just as well, and positions are what the values come in.
            target = _positional(dialect) if dialect.name == "postgresql" else dialect
            compiled = self.statement.compile(dialect=target, column_keys=list(keys))
            names = tuple(compiled.positiontup or ())
            missing = [n for n in names if n not in keys]
            if missing:  # a column default SQLAlchemy would fill in: not supported here
                raise AssertionError(f"no value given for {missing} in {compiled}")
            procs = tuple(bind_processor(compiled.binds[n].type, dialect) for n in names)
            found = self._compiled[dialect.name, keys] = (str(compiled), names, procs)
        return found

    def bound(self, conn: Connection, values: dict[str, Any]) -> tuple[str, list[Any]]:
        """The driver SQL and its parameters in placeholder order (processors applied)."""
        keys = tuple(values)
        plan = self._plans.get((conn.dialect.name, keys))
        if plan is None:
            plan = self._plan(conn, keys)
        sql, in_order, processed = plan
        params = in_order(values)
        # Only the placeholders with a processor (JSON, timestamps, booleans) call one: most
        # columns are text or numbers the driver takes as they are.
        for i, process in processed:
            params[i] = process(params[i])
        return sql, params

    def _plan(self, conn: Connection, keys: tuple[str, ...]) -> _Plan:
        sql, names, procs = self.compiled(conn, keys)
        in_order: Callable[[dict[str, Any]], list[Any]]
        if len(names) > 1:
            take = itemgetter(*names)
            in_order = lambda values: list(take(values))  # noqa: E731
        else:  # (itemgetter of one name gives the value itself, of none is an error)
            in_order = lambda values: [values[n] for n in names]  # noqa: E731
        processed = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        plan = self._plans[conn.dialect.name, keys] = (sql, in_order, processed)
        return plan

    def execute(self, conn: Connection, values: dict[str, Any]) -> Any:
        return driver_execute(conn, *self.bound(conn, values))


_POSITIONAL: dict[int, Any] = {}


def _positional(dialect: Any) -> Any:
    """A copy of a PostgreSQL dialect that compiles to positional ``%s`` placeholders."""
    found = _POSITIONAL.get(id(dialect))
    if found is None:
        found = _POSITIONAL[id(dialect)] = type(dialect)(paramstyle="format")
    return found


# Connection.info key (the pool record's, so the kept writer's for its life): the checkout
# (pool fairy) whose write transaction ``DriverTransaction`` began on the driver.
_DRIVER_TXN = "opsroom_driver_txn"


def sqlite_do_begin(checkout: Any) -> None:
    """The SQLite dialect's ``do_begin``: what SQLAlchemy runs when a Connection begins
    (``begin()``, or the autobegin of a first ``execute``/``begin_nested``).

    pysqlite runs with ``isolation_level=None`` (store/db.py), so it never begins on its
    own; this sends the deferred BEGIN readers want (they never block a writer). Inside a
    ``DriverTransaction`` of this same checkout the transaction is already open, with the
    write lock: SQLAlchemy's transaction joins it and sends nothing (a second BEGIN would
    fail). Another checkout of the same driver connection (in-memory SQLite's one shared
    connection) still sends BEGIN and fails loudly, as before. A dialect method rather than a
    "begin" event: an engine with no event listeners skips SQLAlchemy's event dispatch on
    every execute, begin and commit."""
    raw = checkout.driver_connection
    # (Also BEGIN when ours has ended meanwhile: a ``conn.commit()`` inside the block.)
    if checkout.info.get(_DRIVER_TXN) is not checkout or not raw.in_transaction:
        raw.execute("BEGIN")


class DriverTransaction:
    """An SQLite write transaction begun and ended on the driver: ``BEGIN IMMEDIATE`` (the
    write lock up front, so two writers never deadlock mid-way) and the driver's
    ``commit()``/``rollback()``.

    SQLAlchemy's begin + commit costs 15–24 µs against 4–7 µs for these (docs/performance.md,
    "Wave 8 — one1"), twice a command. SQLAlchemy's documented alternatives do not remove its
    bookkeeping: ``isolation_level="AUTOCOMMIT"`` still builds and commits a RootTransaction
    per ``begin()`` (only the driver ignores it), and the "begin" event runs inside it.
    So the Connection is left with no transaction of its own, which is a state SQLAlchemy
    knows (it sends nothing between statements, as pysqlite in ``isolation_level=None``):
    statements on the driver (``driver_execute``, ``DriverStatement``) run in ours. A
    ``conn.execute`` or ``begin_nested`` autobegins SQLAlchemy's transaction, which
    ``sqlite_do_begin`` lets join ours without a BEGIN; then its own commit or rollback ends
    both (one COMMIT), and SQLAlchemy's state stays true. Errors come out as SQLAlchemy's."""

    __slots__ = ("conn", "checkout", "raw")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.checkout = checkout = conn.connection
        raw: Any = checkout.driver_connection
        self.raw = raw
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise sa_exc.DBAPIError.instance("BEGIN IMMEDIATE", (), err, sqlite3.Error) from err
        checkout.info[_DRIVER_TXN] = checkout

    def commit(self) -> None:
        """Commit; on failure the transaction stays open for ``rollback()`` (as SQLAlchemy's)."""
        if self.conn.get_transaction() is not None:  # autobegun on top of ours: it commits both
            self.conn.commit()
        else:
            try:
                self.raw.commit()
            except sqlite3.Error as err:
                raise sa_exc.DBAPIError.instance("COMMIT", (), err, sqlite3.Error) from err
        self.checkout.info.pop(_DRIVER_TXN, None)

    def rollback(self) -> None:
        try:
            if self.conn.get_transaction() is not None:
                self.conn.rollback()
            if self.raw.in_transaction:  # (also after a failed COMMIT, which leaves it open)
                self.raw.rollback()
        except sqlite3.Error as err:
            raise sa_exc.DBAPIError.instance("ROLLBACK", (), err, sqlite3.Error) from err
        finally:
            self.checkout.info.pop(_DRIVER_TXN, None)

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.rollback()
            return
        try:
            self.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the commit's error is the one to see
                self.rollback()
            raise


def driver_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
    checkout = conn.connection
    if checkout.info.get(pgwrite.HELD):
        pgwrite.send_held(conn)
    try:
        return checkout.driver_connection.executemany(sql, rows)  # type: ignore[union-attr]
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(sql, rows, err, sqlite3.Error) from err
