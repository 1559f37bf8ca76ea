"""Run rows: written before anything executes, so a crash can always be accounted for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update

from opsroom.cluster.identity import REPLICA_ID
from opsroom.core import Invocation, RunState
from opsroom.core.quickinit import quick_init
from opsroom.store import pgwrite
from opsroom.store.db import DriverStatement, driver_execute
from opsroom.store.tables import RUNS_STATE_INDEX_WHERE, locks, runs
from opsroom.store.types import as_utc as as_utc  # re-exported: callers use run_store.as_utc
from opsroom.store.types import utcnow as utcnow  # re-exported: callers use run_store.utcnow


@quick_init  # one per run row read (lists, the API) (core/quickinit.py)
@dataclass(frozen=True)
class RunRow:
    id: int
    command: str
    args: dict[str, Any]
    raw_text: str
    user: str
    platform: str
    channel: str
    channel_name: str
    thread: str | None
    state: RunState
    lock_key: str | None
    dry_run: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    exit_code: int | None
    result: str
    error: str
    output: str
    output_truncated: bool
    progress_message_id: str | None
    fingerprint: str
    extra: dict[str, Any]

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


def _row(r: Any) -> RunRow:
    m = r._mapping
    return RunRow(
        id=m["id"],
        command=m["command"],
        args=dict(m["args"] or {}),
        raw_text=m["raw_text"],
        user=m["user"],
        platform=m["platform"],
        channel=m["channel"],
        channel_name=m["channel_name"],
        thread=m["thread"],
        state=RunState(m["state"]),
        lock_key=m["lock_key"],
        dry_run=bool(m["dry_run"]),
        created_at=as_utc(m["created_at"]),
        started_at=as_utc(m["started_at"]),
        finished_at=as_utc(m["finished_at"]),
        exit_code=m["exit_code"],
        result=m["result"],
        error=m["error"],
        output=m["output"],
        output_truncated=bool(m["output_truncated"]),
        progress_message_id=m["progress_message_id"],
        fingerprint=m["fingerprint"],
        extra=dict(m["extra"] or {}),
    )


_INSERT_RUN = insert(runs)
_BY_ID = runs.c.id == bindparam("run_id")
# Every command writes its run row twice (created, finished): these go to the driver as SQL
# compiled once (see DriverStatement); on PostgreSQL through store/pgwrite.py.
_SQLITE_INSERT_RUN = DriverStatement(_INSERT_RUN)

# A new run row's columns in the compiled INSERT's placeholder order (checked when compiled).
_RUN_COLUMNS = (
    "command", "args", "raw_text", "user", "platform", "channel", "channel_name", "thread", "state",
    "fingerprint", "lock_key", "dry_run", "created_at", "started_at", "result", "error", "output",
    "output_truncated", "timeout", "extra", "audit_first", "audit_last",
)  # fmt: skip
# Columns every new run row binds as they are: their processor is none (checked when compiled).
_RUN_PLAIN = frozenset(
    (
        "command", "raw_text", "user", "platform", "channel", "channel_name", "thread", "state", "fingerprint",
        "lock_key", "audit_first", "audit_last",
    )
)  # fmt: skip


def _run_constants() -> dict[str, Any]:
    """The columns with the same value in every run row this process writes."""
    # extra: which process runs it (cluster/: who recovers it)
    return {"result": "", "error": "", "output": "", "output_truncated": False, "extra": {"replica": REPLICA_ID}}


class _SqliteRunInsert:
    """The run row INSERT on SQLite, its parameters built as one tuple: the same SQL and the
    same processors as ``_SQLITE_INSERT_RUN.execute`` with every column, but the constant
    columns processed once (``extra``'s JSON text among them), the one timestamp converted
    once for both created_at and started_at, and no processor call for the plain text
    columns (tests/unit/store/test_run_row_insert.py: the same stored row)."""

    __slots__ = ("compiled", "replica", "sql", "args", "dry_run", "utc", "timeout", "constant", "constant_extra")

    def __init__(self, compiled: Any) -> None:
        sql, names, procs = compiled
        if names != _RUN_COLUMNS:
            raise AssertionError(f"run row placeholders {names} are not {_RUN_COLUMNS}")
        by_name = dict(zip(names, procs, strict=True))
        if any(by_name[n] is not None for n in _RUN_PLAIN):
            raise AssertionError(f"a processor for one of {sorted(_RUN_PLAIN)}: bind it in _SqliteRunInsert")
        self.compiled = compiled
        self.replica = REPLICA_ID
        self.sql: str = _in_time_order(sql)
        processed = {k: _processed(by_name[k], v) for k, v in _run_constants().items()}
        self.constant = (processed["result"], processed["error"], processed["output"], processed["output_truncated"])
        self.constant_extra = processed["extra"]
        self.args = by_name["args"] or _same
        self.dry_run = (_processed(by_name["dry_run"], False), _processed(by_name["dry_run"], True))
        self.utc = by_name["created_at"] or _same
        if by_name["started_at"] is None or by_name["created_at"] is None:
            raise AssertionError("created_at and started_at are expected to share one timestamp processor")
        self.timeout = by_name["timeout"] or _same

    def params(
        self,
        inv: Invocation,
        state: RunState,
        lock_key: str | None,
        timeout: float,
        stored_args: dict[str, Any],
        started: bool,
        raw_text: str,
        audit_range: tuple[int, int] | None,
    ) -> tuple[Any, ...]:
        place = inv.place
        now = self.utc(utcnow())
        result, error, output, output_truncated = self.constant
        return (
            inv.command.name,
            self.args(stored_args),
            raw_text,
            inv.principal.name,
            place.platform,
            place.channel,
            place.name,
            place.thread,
            state.value,
            inv.fingerprint(),
            lock_key,
            self.dry_run[bool(inv.flags.get("dry_run"))],
            now,
            now if started else None,
            result,
            error,
            output,
            output_truncated,
            self.timeout(timeout),
            self.constant_extra,
            *(audit_range or (None, None)),
        )


def _same(value: Any) -> Any:
    return value


# SQLite: a run is never stamped earlier than the newest run (its time stored as the text
# SQLAlchemy writes, whose order is time order), so runs are in time order by id and a
# time bound can be an id bound (store/time_order.py). Read in the INSERT, under the write
# lock; from a VALUES row, which reads the newest row directly (no temporary copy).
_NOT_BEFORE_NEWEST = "max(?, coalesce((SELECT created_at FROM runs ORDER BY id DESC LIMIT 1), ''))"


def _in_time_order(sql: str) -> str:
    """The compiled run INSERT with its ``created_at`` placeholder not before the newest run."""
    head, values = sql.split(" VALUES (")
    marks = values.rstrip(")").split(", ")
    if len(marks) != len(_RUN_COLUMNS) or set(marks) != {"?"}:
        raise AssertionError(f"unexpected run INSERT: {sql}")
    marks[_RUN_COLUMNS.index("created_at")] = _NOT_BEFORE_NEWEST
    return f"{head} VALUES ({', '.join(marks)})"


def _processed(proc: Any, value: Any) -> Any:
    return value if proc is None else proc(value)


_sqlite_run_insert: _SqliteRunInsert | None = None


def _sqlite_run_plan(conn: Connection) -> _SqliteRunInsert:
    global _sqlite_run_insert
    compiled = _SQLITE_INSERT_RUN.compiled(conn, _RUN_COLUMNS)
    plan = _sqlite_run_insert
    if plan is None or plan.compiled is not compiled or plan.replica is not REPLICA_ID:
        plan = _sqlite_run_insert = _SqliteRunInsert(compiled)
    return plan


def insert_run(
    conn: Connection,
    inv: Invocation,
    state: RunState,
    *,
    lock_key: str | None,
    timeout: float,
    stored_args: dict[str, Any],
    started: bool = False,
    shown_text: str | None = None,
    audit_range: tuple[int, int] | None = None,
) -> int:
    """``shown_text`` is what is kept as the run's text: what was typed with secret arguments
    masked and secrets redacted (the caller's redactor); by default the masked text.
    ``audit_range`` (SQLite): the first and last id its audit rows of this transaction will
    get, when known (store/run_audit.py; the append checks it, and widens it otherwise)."""
    raw_text = inv.shown_text() if shown_text is None else shown_text
    if conn.dialect.name == "sqlite":
        plan = _sqlite_run_plan(conn)
        params = plan.params(inv, state, lock_key, timeout, stored_args, started, raw_text, audit_range)
        return int(driver_execute(conn, plan.sql, params).lastrowid)
    # Parameters go to execute() rather than .values(): the statement is built and compiled
    # once, which matters on the per-command hot path.
    values = {
        "command": inv.command.name,
        "args": stored_args,
        "raw_text": raw_text,
        "user": inv.principal.name,
        "platform": inv.place.platform,
        "channel": inv.place.channel,
        "channel_name": inv.place.name,
        "thread": inv.place.thread,
        "state": state.value,
        "fingerprint": inv.fingerprint(),
        "lock_key": lock_key,
        "dry_run": bool(inv.flags.get("dry_run")),
        "created_at": (now := utcnow()),
        "started_at": now if started else None,
        "timeout": timeout,
        **_run_constants(),
    }
    run_id = pgwrite.take_one(conn, pgwrite.RUN_IDS)  # drawn by the writer group for its new runs
    if run_id is None:
        return int(pgwrite.fetch(conn, *_SQLITE_INSERT_RUN.bound(conn, values))[0][0])  # RETURNING runs.id
    # Merged with the trip's other run rows into one INSERT (nothing in a trip reads them).
    pgwrite.later(conn, *_SQLITE_INSERT_RUN.bound(conn, {"id": run_id, **values}), merge=True)
    return int(run_id)


_UPDATE_RUN = update(runs).where(_BY_ID)
_SQLITE_UPDATE_RUN = DriverStatement(_UPDATE_RUN)


def set_state(conn: Connection, run_id: int, state: RunState, **values: Any) -> None:
    move_values(conn, run_id, state, values)


def move_values(conn: Connection, run_id: int, state: RunState, values: Mapping[str, Any]) -> int | None:
    """``set_state`` with the other columns in a mapping (runs/lifecycle.py hands on its own
    keyword dict: one copy where passing ``**values`` on made three). Same keys, same order.
    SQLite: the number of rows changed (0: no such run); None on PostgreSQL (sent later)."""
    return _update(conn, {"state": state.value, **values, "run_id": run_id})


def set_values(conn: Connection, run_id: int, **values: Any) -> None:
    values["run_id"] = run_id  # (a dict of this call's own)
    _update(conn, values)


def _update(conn: Connection, values: dict[str, Any]) -> int | None:
    if conn.dialect.name == "sqlite":
        return int(_SQLITE_UPDATE_RUN.execute(conn, values).rowcount)
    # held back to share a round trip on the writer thread (store/pgwrite.py)
    pgwrite.later(conn, *_SQLITE_UPDATE_RUN.bound(conn, values))
    return None


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return _row(row) if row else None


_IN_STATE_INDEX = text(RUNS_STATE_INDEX_WHERE)


def list_runs(
    conn: Connection,
    *,
    limit: int = 20,
    states: list[RunState] | None = None,
    user: str | None = None,
    command: str | None = None,
    before_id: int | None = None,
    channel: str | None = None,
) -> list[RunRow]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if states:
        query = query.where(runs.c.state.in_([s.value for s in states]))
        if RunState.SUCCEEDED not in states and conn.dialect.name == "sqlite":
            # Says nothing new, but SQLite uses its partial ix_runs_state (no succeeded runs,
            # store/tables.py) only for a query that repeats the index's condition word for
            # word; without it the recovery's search and the console's state filter would
            # read the whole table.
            query = query.where(_IN_STATE_INDEX)
    if user:
        query = query.where(runs.c.user == user)
    if command:
        query = query.where(runs.c.command == command)
    if channel:
        query = query.where(runs.c.channel_name == channel)
    if before_id:
        query = query.where(runs.c.id < before_id)
    return [_row(r) for r in conn.execute(query)]


@dataclass(frozen=True)
class LockHolder:
    key: str
    run_id: int | None
    holder: str
    since: dt.datetime


def lock_holder(conn: Connection, key: str) -> LockHolder | None:
    row = conn.execute(select(locks).where(locks.c.key == key)).first()
    if row is None:
        return None
    m = row._mapping
    return LockHolder(m["key"], m["run_id"], m["holder"], as_utc(m["since"]))


def take_lock(conn: Connection, key: str, run_id: int | None, holder: str) -> None:
    conn.execute(insert(locks).values(key=key, run_id=run_id, holder=holder, since=utcnow()))


def set_lock_run(conn: Connection, key: str, run_id: int) -> None:
    conn.execute(update(locks).where(locks.c.key == key).values(run_id=run_id))


_RELEASE_RUN_LOCK = delete(locks).where(locks.c.key == bindparam("key"), locks.c.run_id == bindparam("run_id"))
_SQLITE_RELEASE_RUN_LOCK = DriverStatement(_RELEASE_RUN_LOCK)


def release_lock(conn: Connection, key: str, run_id: int | None = None) -> None:
    if run_id is None:
        conn.execute(delete(locks).where(locks.c.key == key))
    else:
        values = {"key": key, "run_id": run_id}
        if conn.dialect.name == "sqlite":
            _SQLITE_RELEASE_RUN_LOCK.execute(conn, values)
        else:
            pgwrite.later(conn, *_SQLITE_RELEASE_RUN_LOCK.bound(conn, values))


def list_locks(conn: Connection) -> list[LockHolder]:
    return [
        LockHolder(m["key"], m["run_id"], m["holder"], as_utc(m["since"]))
        for m in (r._mapping for r in conn.execute(select(locks).order_by(locks.c.key)))
    ]
