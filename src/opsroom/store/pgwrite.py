"""PostgreSQL's per-command statements at the driver, and writes held back to share a trip.

Every command writes a run row, its audit rows, the run's UPDATE and its last audit row. Sent
one by one, each is a round trip to the server that the writer thread (store/writer.py)
waits for: ≈ 5 per command, the limit at 20 commands at once. Most of them return nothing
the caller needs (an UPDATE, an audit INSERT), so inside the writer thread's group
transactions they are *held back* (``later``) and sent with the next statement whose
result is needed (``fetch``: the run row's ``RETURNING id``, the audit lock and tail) or
with the group's COMMIT (``commit``), as one simple-protocol query of several statements
(parameters bound client-side by psycopg's ``ClientCursor``, the same values).

Semantics are unchanged: statements run in the order they were made, in the same
transaction, before any later statement (a SQLAlchemy statement on the connection first
sends what is held back: ``before_cursor_execute``); the COMMIT runs only if all of them
succeeded. A held-back statement that fails surfaces later, maybe in another function of
the group: it is raised as ``HeldBackWriteError`` (which no caller catches), the group
rolls back, and the writer runs each function again alone with nothing held back, so the
failing one gets its own error exactly as before.

Outside a writer group (``db.begin()`` on PostgreSQL) nothing is held back: ``later`` runs
at once on the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection, event
from sqlalchemy import exc as sa_exc

_HELD = "opsroom.pg.held"  # conn.info: [(sql, params)] not sent yet, for this group


class HeldBackWriteError(RuntimeError):
    """A held-back statement failed; the writer retries each function alone."""


def hold(conn: Connection) -> None:
    """From now until ``release``, ``later`` statements on ``conn`` wait for a trip."""
    if not event.contains(conn, "before_cursor_execute", _send_held):
        event.listen(conn, "before_cursor_execute", _send_held)
    conn.info[_HELD] = []


def release(conn: Connection) -> None:
    conn.info.pop(_HELD, None)


def later(conn: Connection, sql: str, params: Sequence[Any]) -> None:
    """Run ``sql`` (driver SQL, ``%s`` placeholders) now, or with the next trip when held."""
    held = conn.info.get(_HELD)
    if held is None:
        _run(conn, [(sql, params)], alone=True)
    else:
        held.append((sql, params))


def fetch(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run what is held back and then ``sql`` in one trip; ``sql``'s rows. ``sql`` may hold
    several statements when ``params`` is empty: the rows are the last one's."""
    held = conn.info.get(_HELD)
    statements = [*held, (sql, params)] if held else [(sql, params)]
    if held:
        held.clear()
    return _run(conn, statements, alone=not held)


def commit(conn: Connection) -> None:
    """Send what is held back followed by COMMIT, in one trip (the writer group's end).
    psycopg then finds the transaction ended, and SQLAlchemy's commit sends nothing more."""
    held = conn.info.get(_HELD)
    if held:
        statements = [*held, ("COMMIT", ())]
        held.clear()
        _run(conn, statements, alone=False)


def _send_held(conn: Connection, *_args: Any) -> None:
    held = conn.info.get(_HELD)
    if held:
        statements = list(held)
        held.clear()
        _run(conn, statements, alone=False)


def _run(conn: Connection, statements: list[tuple[str, Sequence[Any]]], *, alone: bool) -> list[tuple[Any, ...]]:
    raw: Any = conn.connection.driver_connection
    try:
        if len(statements) == 1:
            sql, params = statements[0]
            cur = raw.execute(sql, params or None)  # no parameters: several statements allowed
        else:
            cur = psycopg.ClientCursor(raw)
            text = ";\n".join(cur.mogrify(sql, params or None) if params else sql for sql, params in statements)
            cur.execute(text)
        while cur.nextset():  # to the last statement's result
            pass
        return cur.fetchall() if cur.description is not None else []
    except psycopg.Error as err:
        sql, params = statements[-1]
        wrapped = sa_exc.DBAPIError.instance(sql, params, err, psycopg.Error)
        if alone:
            raise wrapped from err
        raise HeldBackWriteError(f"a held-back write failed: {err}") from wrapped
