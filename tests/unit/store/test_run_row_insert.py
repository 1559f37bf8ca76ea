"""A run row written by ``insert_run`` on SQLite (one parameter tuple, constants processed
once) is the row SQLAlchemy's own INSERT of the same values stores: every column, byte for
byte, with the storage class SQLite reports for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from opsroom.core import ArgSpec, CommandSpec, Invocation, Place, RunState
from opsroom.core.identity import Principal
from opsroom.runs import store as run_store
from opsroom.store import Database, create_db_engine
from opsroom.store.tables import runs

NOW = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
COLUMNS = [c.name for c in runs.c if c.name != "id"]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(create_db_engine(f"sqlite:///{tmp_path / 'opsroom.db'}"))
    db.migrate()
    yield db
    db.dispose()


def _invocation(args: dict[str, Any], flags: dict[str, Any], thread: str | None) -> Invocation:
    spec = CommandSpec("deploy", args=(ArgSpec("service"), ArgSpec("token", secret=True)), timeout=300)
    return Invocation(
        spec,
        args,
        f"deploy {args['service']} token={args.get('token', 'hunter2')} « ünï »",
        Principal("alice"),
        Place("slack", "C0OPS", channel_name="#ops", thread=thread),
        flags,
    )


def _sqlalchemy_insert(conn: Any, inv: Invocation, state: RunState, **kw: Any) -> int:
    """What insert_run stored before: every column through SQLAlchemy's own INSERT."""
    values = {
        "command": inv.command.name,
        "args": kw["stored_args"],
        "raw_text": inv.shown_text() if kw.get("shown_text") is None else kw["shown_text"],
        "user": inv.principal.name,
        "platform": inv.place.platform,
        "channel": inv.place.channel,
        "channel_name": inv.place.name,
        "thread": inv.place.thread,
        "state": state.value,
        "fingerprint": inv.fingerprint(),
        "lock_key": kw["lock_key"],
        "dry_run": bool(inv.flags.get("dry_run")),
        "created_at": NOW,
        "started_at": NOW if kw.get("started") else None,
        "timeout": kw["timeout"],
        "result": "",
        "error": "",
        "output": "",
        "output_truncated": False,
        "extra": {"replica": run_store.REPLICA_ID},
    }
    return int(conn.execute(insert(runs), values).inserted_primary_key[0])


def _stored(db: Database, run_id: int) -> list[tuple[Any, str]]:
    """Each column's value and SQLite storage class (``typeof``), as the driver returns them."""
    selected = ", ".join(f'"{c}", typeof("{c}")' for c in COLUMNS)
    with db.read() as conn:
        row = conn.exec_driver_sql(f"SELECT {selected} FROM runs WHERE id = ?", (run_id,)).one()
    return [(row[2 * i], row[2 * i + 1]) for i in range(len(COLUMNS))]


CASES = [
    ({"service": "api", "token": "hunter2"}, {}, None, {"lock_key": None, "timeout": 300, "started": False}),
    (
        {"service": "ünï-€", "token": "x"},
        {"dry_run": True},
        "171.2",
        {"lock_key": "deploy:api", "timeout": 2.5, "started": True},
    ),
    (
        {"service": "api", "n": 3, "deep": [1, None, "é"]},
        {"dry_run": 0},
        None,
        {"lock_key": "", "timeout": 0, "started": True, "shown_text": "shown ‹x›"},
    ),
]


@pytest.mark.parametrize(("args", "flags", "thread", "kw"), CASES)
@pytest.mark.parametrize("state", [RunState.RUNNING, RunState.AWAITING_APPROVAL])
def test_insert_run_stores_what_sqlalchemys_insert_stores(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, args: Any, flags: Any, thread: Any, kw: Any, state: RunState
) -> None:
    monkeypatch.setattr(run_store, "utcnow", lambda: NOW)
    inv = _invocation(args, flags, thread)
    stored_args = inv.shown_args()
    with sqlite_db.begin() as conn:
        old_id = _sqlalchemy_insert(conn, inv, state, stored_args=stored_args, **kw)
        new_id = run_store.insert_run(conn, inv, state, stored_args=stored_args, **kw)
    assert new_id == old_id + 1
    old, new = _stored(sqlite_db, old_id), _stored(sqlite_db, new_id)
    for name, was, now in zip(COLUMNS, old, new, strict=True):
        assert (name, now) == (name, was)
    with sqlite_db.read() as conn:
        row = run_store.get_run(conn, new_id)
    assert row is not None and row.created_at == NOW and row.extra == {"replica": run_store.REPLICA_ID}
    if "token" in args:  # the secret is masked in what is kept (unless the caller's text is kept)
        assert args["token"] not in row.raw_text and row.args["token"] == "•••"


def test_a_new_replica_id_is_stored_from_then_on(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = _invocation({"service": "api"}, {}, None)
    with sqlite_db.begin() as conn:
        first = run_store.insert_run(conn, inv, RunState.RUNNING, lock_key=None, timeout=1, stored_args={})
        monkeypatch.setattr(run_store, "REPLICA_ID", "other:1:2")
        second = run_store.insert_run(conn, inv, RunState.RUNNING, lock_key=None, timeout=1, stored_args={})
    with sqlite_db.read() as conn:
        extras = [run_store.get_run(conn, i).extra for i in (first, second)]  # type: ignore[union-attr]
    assert extras[1] == {"replica": "other:1:2"} and extras[0] != extras[1]
