"""Reading and writing runbook runs and their steps (tables in runbooks/tables.py), in the
caller's transaction so a step's move and its audit row commit together."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opsroom.core import Place
from opsroom.runbooks.model import Runbook
from opsroom.runbooks.tables import runbook_runs, runbook_steps
from opsroom.store.types import as_utc

FINISHED = ("ok", "failed", "skipped")


@dataclass(frozen=True)
class StepRow:
    step: str
    position: int
    state: str  # pending | waiting | starting | running | ok | failed | skipped
    actor: str
    command_run: int | None
    note: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


@dataclass(frozen=True)
class RunbookRun:
    id: int
    runbook: str
    title: str
    digest: str
    inputs: dict[str, Any]
    started_by: str
    incident_id: int | None
    place: Place
    card: str | None
    state: str  # active | succeeded | failed | cancelled
    steps: tuple[StepRow, ...]

    def step(self, step_id: str) -> StepRow | None:
        return next((s for s in self.steps if s.step == step_id), None)


def create(
    conn: Connection,
    book: Runbook,
    *,
    inputs: dict[str, Any],
    started_by: str,
    place: Place,
    incident_id: int | None,
    now: dt.datetime,
) -> int:
    result = conn.execute(
        insert(runbook_runs).values(
            runbook=book.id,
            title=book.title,
            digest=book.digest,
            inputs=inputs,
            started_by=started_by,
            incident_id=incident_id,
            platform=place.platform,
            channel=place.channel,
            channel_name=place.name,
            thread=place.thread,
            card=None,
            state="active",
            created_at=now,
        )
    )
    run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(
        insert(runbook_steps),
        [
            {"run_id": run_id, "step": s.id, "position": n, "state": "pending", "actor": "", "note": ""}
            for n, s in enumerate(book.steps)
        ],
    )
    return run_id


def get(conn: Connection, run_id: int) -> RunbookRun | None:
    row = conn.execute(select(runbook_runs).where(runbook_runs.c.id == run_id)).first()
    if row is None:
        return None
    steps = conn.execute(
        select(runbook_steps).where(runbook_steps.c.run_id == run_id).order_by(runbook_steps.c.position)
    ).all()
    place = Place(
        row.platform, row.channel, row.thread, channel_name=row.channel_name, is_direct=row.channel_name == "dm"
    )
    return RunbookRun(
        row.id,
        row.runbook,
        row.title,
        row.digest,
        dict(row.inputs),
        row.started_by,
        row.incident_id,
        place,
        row.card,
        row.state,
        tuple(
            StepRow(
                s.step, s.position, s.state, s.actor, s.command_run, s.note, as_utc(s.started_at), as_utc(s.ended_at)
            )
            for s in steps
        ),
    )


def active_ids(conn: Connection) -> list[int]:
    return list(
        conn.execute(
            select(runbook_runs.c.id).where(runbook_runs.c.state == "active").order_by(runbook_runs.c.id)
        ).scalars()
    )


def set_card(conn: Connection, run_id: int, card: str) -> None:
    conn.execute(update(runbook_runs).where(runbook_runs.c.id == run_id).values(card=card))


def set_state(conn: Connection, run_id: int, state: str, now: dt.datetime) -> None:
    conn.execute(
        update(runbook_runs)
        .where(runbook_runs.c.id == run_id, runbook_runs.c.state == "active")
        .values(state=state, ended_at=now)
    )


def move_step(
    conn: Connection,
    run_id: int,
    step: str,
    *,
    expect: tuple[str, ...],
    to: str,
    now: dt.datetime,
    actor: str | None = None,
    command_run: int | None = None,
    note: str | None = None,
) -> bool:
    """Move a step from one of ``expect`` to ``to``; False when it was not in one of them (a
    second click, another replica first): the caller then changes nothing else."""
    values: dict[str, Any] = {"state": to}
    if to in ("waiting", "starting"):
        values["started_at"] = now
    if to in FINISHED:
        values["ended_at"] = now
    if actor is not None:
        values["actor"] = actor
    if command_run is not None:
        values["command_run"] = command_run
    if note is not None:
        values["note"] = note[:1000]
    result = conn.execute(
        update(runbook_steps)
        .where(runbook_steps.c.run_id == run_id, runbook_steps.c.step == step, runbook_steps.c.state.in_(expect))
        .values(**values)
    )
    return bool(result.rowcount)
