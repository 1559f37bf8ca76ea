"""The second wall of ``/sql``: the database itself runs the query read-only, bounded.

- PostgreSQL: ``SET TRANSACTION READ ONLY`` and ``SET LOCAL statement_timeout`` open the
  transaction, rows stream through a server-side cursor and stop at the cap, and the
  transaction is always rolled back.
- SQLite: the file is opened read-only (``mode=ro``) with ``PRAGMA query_only``, and a
  progress handler interrupts the query at its deadline.

SQLAlchemy is synchronous here; the runner calls ``run_query`` in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from opsroom.errors import IntegrationError


class QueryFailed(IntegrationError):
    """The database refused or stopped the query; the message is for chat."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool  # more rows existed than the cap
    seconds: float


def open_engine(url: str) -> sa.Engine:
    """An engine that can only read: SQLite files open with ``mode=ro``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise QueryFailed("an in-memory SQLite database has nothing to read")
        return sa.create_engine("sqlite+pysqlite:///file:" + path + "?mode=ro&uri=true", poolclass=sa.pool.NullPool)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def run_query(engine: sa.Engine, text: str, *, max_rows: int, timeout: float) -> QueryResult:
    backend = engine.dialect.name
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                return _postgres(conn, text, max_rows, timeout, started)
            if backend == "sqlite":
                return _sqlite(conn, text, max_rows, timeout, started)
            raise QueryFailed(f"{backend} databases are not supported (PostgreSQL and SQLite are)")
    except sa.exc.DBAPIError as err:
        raise QueryFailed(_reason(err, timeout)) from None


def _postgres(conn: sa.Connection, text: str, max_rows: int, timeout: float, started: float) -> QueryResult:
    with conn.begin() as tx:
        try:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            conn.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = {int(timeout * 1000 + 5000)}")
            result = conn.execution_options(stream_results=True, max_row_buffer=max_rows + 1).exec_driver_sql(
                _escape_percent(text)
            )
            return _collect(result, max_rows, started)
        finally:
            tx.rollback()


def _sqlite(conn: sa.Connection, text: str, max_rows: int, timeout: float, started: float) -> QueryResult:
    raw: Any = conn.connection.dbapi_connection
    deadline = started + timeout
    raw.set_progress_handler(_past(deadline), 10_000)
    try:
        with conn.begin() as tx:
            try:
                conn.exec_driver_sql("PRAGMA query_only = ON")
                return _collect(conn.exec_driver_sql(text), max_rows, started)
            finally:
                tx.rollback()
    finally:
        raw.set_progress_handler(None, 0)


def _past(deadline: float) -> Callable[[], int]:
    def check() -> int:
        return 1 if time.monotonic() > deadline else 0  # non-zero interrupts the statement

    return check


def _collect(result: sa.CursorResult[Any], max_rows: int, started: float) -> QueryResult:
    if not result.returns_rows:
        return QueryResult((), (), False, time.monotonic() - started)
    columns = tuple(str(c) for c in result.keys())
    rows = result.fetchmany(max_rows + 1)
    result.close()
    truncated = len(rows) > max_rows
    return QueryResult(columns, tuple(tuple(r) for r in rows[:max_rows]), truncated, time.monotonic() - started)


def _escape_percent(text: str) -> str:
    # psycopg reads %s placeholders even without parameters when SQLAlchemy passes an empty
    # tuple; a literal % in a query (LIKE 'a%') must reach the server as it was typed.
    return text.replace("%", "%%")


def _reason(err: sa.exc.DBAPIError, timeout: float) -> str:
    message = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
    lowered = message.lower()
    if "statement timeout" in lowered or "interrupted" in lowered:
        return f"the query ran longer than {timeout:g}s and was stopped"
    if "read-only" in lowered or "readonly" in lowered or "read only" in lowered:
        return f"the database refused a write: {message}"
    return f"the database refused the query: {message}"
