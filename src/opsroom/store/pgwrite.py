"""PostgreSQL's per-command statements at the driver, and writes held back to share a trip.

Every command writes a run row, its audit rows, the run's UPDATE and its last audit row. Sent
one by one, each is a round trip to the server that the writer thread (store/writer.py)
waits for: ≈ 5 per command, the limit at 20 commands at once. Most of them return nothing
the caller needs (an UPDATE, an audit INSERT), so inside the writer thread's group
transactions they are *held back* (``later``) and sent with the next statement whose
result is needed (``fetch``: the run row's ``RETURNING id``, the audit lock and tail) or
with the group's COMMIT (``commit``), as one simple-protocol query of several statements
(parameters bound client-side by psycopg's ``ClientCursor``, the same values; each
statement prepared once per connection and sent as ``EXECUTE``: store/pgprepared.py).

Semantics are unchanged: statements run in the order they were made, in the same
transaction, before any later statement (a SQLAlchemy statement on the connection first
sends what is held back: ``before_cursor_execute``); the COMMIT runs only if all of them
succeeded. A held-back statement that fails surfaces later, maybe in another function of
the group: it is raised as ``HeldBackWriteError`` (which no caller catches), the group
rolls back, and the writer runs each function again alone with nothing held back, so the
failing one gets its own error exactly as before.

Outside a writer group (``db.begin()`` on PostgreSQL) nothing is held back: ``later`` runs
at once on the driver.

A group may also start from *guessed* answers (``GroupStart.guess``: the audit chain's tail
this process committed last) instead of asking in a trip of
its own; the group's one trip then carries a statement that checks the guess on the server
and raises ``GUESS_MISSED`` when it is wrong, which aborts the transaction before its COMMIT.
The writer then runs the group again the asking way (``GuessMissed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, event
from sqlalchemy import exc as sa_exc

from opsroom.errors import InternalError
from opsroom.store import pgprepared

HELD = "opsroom.pg.held"  # conn.info: this group's _Held
RUN_IDS = "opsroom.runs.ids"  # the answer holding the run ids of a writer group's new runs
_MERGE = pgprepared.MERGE  # the key of a ``later(…, merge=True)`` statement (not an answer)

Statement = tuple[str, Sequence[Any], "str | None"]  # driver SQL, parameters, answer key
Rows = list[tuple[Any, ...]]
# The SQLSTATE a guess check raises (``RAISE … USING ERRCODE``): no PostgreSQL error has it.
GUESS_MISSED = "OPS01"


class GroupStart(Protocol):
    """What every writer group starts with, for one asker (the audit chain: its lock and tail)."""

    ask: list[Statement]  # sent in the group's first trip; ``answer`` gives the rows back

    def guess(self) -> tuple[list[Statement], dict[str, Rows]] | None:
        """Statements that check a guess on the server (raising ``GUESS_MISSED`` when it is
        wrong) and the answers guessed; None when there is no guess."""

    def prepared(self, conn: Connection, guessed: bool) -> None:
        """The group's functions ran; its last trip (with the COMMIT) goes next. The next
        group may already start from what this one leaves: if this one then fails,
        ``forget`` follows and that group's check fails."""

    def forget(self) -> None:
        """The group failed or its guess was wrong: guess nothing until the next commit."""


class HeldBackWriteError(InternalError, RuntimeError):
    """A held-back statement failed; the writer retries each function alone."""


class GuessMissed(HeldBackWriteError):
    """A group's guessed answers were wrong (someone else wrote): nothing of it was committed;
    the writer runs the group again, asking."""


class _Held:
    """What a writer group has not sent yet, and the answers it kept."""

    __slots__ = ("statements", "answers", "begun", "asked")

    def __init__(self, first: Sequence[Statement], answers: dict[str, Rows] | None) -> None:
        # The connection is in autocommit while held: the group's BEGIN travels in its
        # first trip instead of a trip of its own (psycopg would send it alone).
        self.statements: list[Statement] = [("BEGIN", (), None), *first]
        self.answers: dict[str, Rows] = dict(answers or {})
        self.begun = False
        self.asked = len(self.statements)  # BEGIN and the questions: nothing to send alone


def hold(conn: Connection, first: Sequence[Statement] = (), answers: dict[str, Rows] | None = None) -> None:
    """From now until ``release``, ``later`` statements on ``conn`` wait for a trip.
    ``first``: statements every group starts with (the audit lock and tail), whose rows
    ``answer`` gives back by their key; ``answers``: rows known already (guessed)."""
    if not event.contains(conn, "before_cursor_execute", send_held):
        event.listen(conn, "before_cursor_execute", send_held)
    _raw(conn).autocommit = True  # (BEGIN is ours to send: see _Held)
    conn.info[HELD] = _Held(first, answers)


def release(conn: Connection) -> dict[str, Rows]:
    """After the group's commit or rollback: the connection as it was; the answers nobody
    took."""
    held: _Held | None = conn.info.pop(HELD, None)
    if held is None:
        return {}
    _raw(conn).autocommit = False
    return held.answers


def later(conn: Connection, sql: str, params: Sequence[Any], *, merge: bool = False) -> None:
    """Run ``sql`` (driver SQL, ``%s`` placeholders) now, or with the next trip when held.

    ``merge``: an ``INSERT … VALUES (…)`` that nothing else in the trip reads back (audit
    rows, run rows): the trip's INSERTs with the same head become one multi-row INSERT, in the place
    of the last of them (the rows in the order they were made), one statement for the
    server to parse instead of one per command."""
    held: _Held | None = conn.info.get(HELD)
    if held is None:
        _run(conn, [(sql, params, None)], None)
    else:
        held.statements.append((sql, params, _MERGE if merge else None))


def fetch(
    conn: Connection, sql: str, params: Sequence[Any] = (), *, first: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    """Run what is held back, then ``first`` (statements without parameters), then ``sql``,
    in one trip; ``sql``'s rows."""
    own: list[Statement] = [*((f, (), None) for f in first), (sql, params, None)]
    held: _Held | None = conn.info.get(HELD)
    if held is None:
        return _run(conn, own, None)
    statements = held.statements + own
    held.statements = []
    held.begun = True
    return _run(conn, statements, held)


def answer(conn: Connection, key: str) -> list[tuple[Any, ...]] | None:
    """The rows of the group's first statement named ``key`` (once; None when this
    transaction did not ask it, or it was taken already)."""
    held: _Held | None = conn.info.get(HELD)
    if held is None:
        return None
    if key not in held.answers and any(s[2] == key for s in held.statements):
        send_held(conn)
    return held.answers.pop(key, None)


def take_one(conn: Connection, key: str) -> Any:
    """The first value of the next row of answer ``key`` (each once); None when none is left."""
    held: _Held | None = conn.info.get(HELD)
    if held is None:
        return None
    if key not in held.answers and any(s[2] == key for s in held.statements):
        send_held(conn)
    rows = held.answers.get(key)
    return rows.pop(0)[0] if rows else None


def commit(conn: Connection) -> None:
    """Send what is held back followed by COMMIT, in one trip (the writer group's end).
    psycopg then finds the transaction ended, and SQLAlchemy's commit sends nothing more."""
    held: _Held | None = conn.info.get(HELD)
    if held is None or (not held.begun and len(held.statements) <= held.asked):
        return  # nothing was written
    statements = [*held.statements, ("COMMIT", (), None)]
    held.statements = []
    held.begun = True
    _run(conn, statements, held)


def send_held(conn: Connection, *_args: Any) -> None:
    held: _Held | None = conn.info.get(HELD)
    if held is not None and held.statements:
        statements = held.statements
        held.statements = []
        held.begun = True
        _run(conn, statements, held)


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _run(conn: Connection, statements: list[Statement], held: _Held | None) -> list[tuple[Any, ...]]:
    """One trip; the last statement's rows. Without ``held`` the errors are the statement's
    own (SQLAlchemy's DBAPIError); with it, ``HeldBackWriteError``."""
    import psycopg  # here, not at the top: a SQLite install never loads the driver (73 modules)

    raw = _raw(conn)
    try:
        if len(statements) == 1:
            sql, params, _ = statements[0]
            cur = raw.execute(sql, params or None)
            return cur.fetchall() if cur.description is not None else []
        cur = psycopg.ClientCursor(raw)
        parts = pgprepared.texts(raw, cur, statements)  # (prepared statements, merged INSERTs)
        cur.execute(";\n".join(text for text, _ in parts))
        rows: list[tuple[Any, ...]] = []
        for i, (_text, key) in enumerate(parts):
            if i:
                cur.nextset()
            if key is not None or i == len(parts) - 1:
                rows = cur.fetchall() if cur.description is not None else []
                if key is not None and held is not None:
                    held.answers[key] = rows
        return rows
    except psycopg.Error as err:
        sql, params, _ = statements[-1]
        wrapped = sa_exc.DBAPIError.instance(sql, params, err, psycopg.Error)
        if err.sqlstate != GUESS_MISSED:  # (a missed guess aborts before any of them)
            pgprepared.failed(raw)
        if held is None:
            raise wrapped from err
        if err.sqlstate == GUESS_MISSED:
            raise GuessMissed(f"a guessed answer was wrong: {err}") from wrapped
        raise HeldBackWriteError(f"a held-back write failed: {err}") from wrapped
