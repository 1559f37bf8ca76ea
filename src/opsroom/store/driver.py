"""The per-command hot path's statements, sent to the database driver's own cursor:
SQL compiled once (``DriverStatement``) with SQLAlchemy's bind processors applied.

For the few statements every command runs (run rows, audit rows, the delivery marker),
SQLAlchemy's per-execution work costs more than the SQLite statement itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from opsroom.store import pgwrite
from opsroom.store.binds import bind_processor


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def driver_execute(conn: Connection, sql: str, params: Sequence[Any]) -> Any:
    """Run SQL already compiled for this connection's dialect on the driver's own cursor.

    For the few statements every command runs (run rows, audit rows): SQLAlchemy's
    per-execution work costs more than the SQLite statement. Errors come out as SQLAlchemy's
    (``IntegrityError``…) as they would from ``conn.execute``. The caller is inside
    ``Database.begin()`` or ``write()``, so the transaction is SQLAlchemy's as usual."""
    if conn.info.get(pgwrite.HELD):  # a PostgreSQL writer group: what it holds back goes first
        pgwrite.send_held(conn)
    try:
        return _driver(conn).execute(sql, params)
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(sql, params, err, sqlite3.Error) from err


_Compiled = tuple[str, tuple[str, ...], tuple[Any, ...]]  # SQL, parameter names, processors


class DriverStatement:
    """A Core INSERT or UPDATE compiled once per set of columns to the SQLite driver's SQL.

    ``execute(conn, values)`` puts the values in placeholder order with SQLAlchemy's own
    bind processors applied (JSON text, DateTime text, booleans), so what is stored is
    exactly what ``conn.execute(statement, values)`` stores, and runs it on the driver.
    On PostgreSQL callers take ``bound`` and send it through store/pgwrite.py."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}  # by dialect and keys

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
        sql, names, procs = self.compiled(conn, tuple(values))
        return sql, [values[n] if p is None else p(values[n]) for n, p in zip(names, procs, strict=True)]

    def execute(self, conn: Connection, values: dict[str, Any]) -> Any:
        return driver_execute(conn, *self.bound(conn, values))


_POSITIONAL: dict[int, Any] = {}


def _positional(dialect: Any) -> Any:
    """A copy of a PostgreSQL dialect that compiles to positional ``%s`` placeholders."""
    found = _POSITIONAL.get(id(dialect))
    if found is None:
        found = _POSITIONAL[id(dialect)] = type(dialect)(paramstyle="format")
    return found


def driver_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
    if conn.info.get(pgwrite.HELD):
        pgwrite.send_held(conn)
    try:
        return _driver(conn).executemany(sql, rows)
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(sql, rows, err, sqlite3.Error) from err
