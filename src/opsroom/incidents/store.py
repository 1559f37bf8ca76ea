"""Reading and writing incidents, their roles and their timeline events, in the caller's
transaction (so a change and its audit row commit together)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsroom.config.incidents import MILESTONES
from opsroom.incidents.lifecycle import IncidentState
from opsroom.incidents.tables import incident_events, incident_roles, incident_tasks, incidents
from opsroom.store.types import as_utc

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Incident:
    id: int
    slug: str
    title: str
    service: str
    summary: str
    declared_by: str
    platform: str
    channel: str  # the war room's channel id
    channel_name: str  # "#inc-3-payments-down" (what the audit rows name)
    thread: str | None  # set when the war room is a thread
    postmortem: str
    state: IncidentState
    source_groups: tuple[int, ...] = ()  # alert groups linked to it

    @property
    def label(self) -> str:
        return f"INC-{self.id}"


@dataclass(frozen=True)
class Event:
    id: int
    at: dt.datetime
    kind: str
    actor: str
    text: str
    audit_id: int | None
    source: str


def slug_for(incident_id: int, title: str, now: dt.datetime) -> str:
    words = _SLUG.sub("-", title.lower()).strip("-")[:60].strip("-") or "incident"
    return f"inc-{now:%Y-%m-%d}-{incident_id}-{words}"


def insert_incident(
    conn: Connection, *, title: str, service: str, declared_by: str, platform: str, state: IncidentState
) -> int:
    result = conn.execute(
        insert(incidents).values(
            slug=f"pending-{declared_by}-{state.declared_at.timestamp()}"[:120],
            title=title,
            severity=state.severity,
            status=state.status,
            service=service,
            summary="",
            declared_by=declared_by,
            platform=platform,
            channel="",
            thread=None,
            source_groups=[],
            started_at=state.started_at,
            declared_at=state.declared_at,
            postmortem="",
        )
    )
    incident_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(slug=slug_for(incident_id, title, state.declared_at))
    )
    save_roles(conn, incident_id, state.roles, state.declared_at)
    return incident_id


def set_war_room(conn: Connection, incident_id: int, channel: str, channel_name: str, thread: str | None) -> None:
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(channel=channel, channel_name=channel_name, thread=thread)
    )


def save_state(conn: Connection, incident_id: int, state: IncidentState, now: dt.datetime) -> None:
    values: dict[str, Any] = {"status": state.status, "severity": state.severity}
    for milestone in MILESTONES:
        values[f"{milestone}_at"] = state.milestones.get(milestone)
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
    save_roles(conn, incident_id, state.roles, now)


def save_roles(conn: Connection, incident_id: int, roles: dict[str, str], now: dt.datetime) -> None:
    held = {
        r.role: r.person
        for r in conn.execute(select(incident_roles).where(incident_roles.c.incident_id == incident_id)).all()
    }
    for role in held.keys() - roles.keys():
        conn.execute(
            delete(incident_roles).where(incident_roles.c.incident_id == incident_id, incident_roles.c.role == role)
        )
    for role, person in roles.items():
        if held.get(role) == person:
            continue
        if role in held:
            conn.execute(
                update(incident_roles)
                .where(incident_roles.c.incident_id == incident_id, incident_roles.c.role == role)
                .values(person=person, assigned_at=now)
            )
        else:
            conn.execute(
                insert(incident_roles).values(incident_id=incident_id, role=role, person=person, assigned_at=now)
            )


def link_group(conn: Connection, incident: Incident, group_id: int) -> bool:
    if group_id in incident.source_groups:
        return False
    conn.execute(
        update(incidents).where(incidents.c.id == incident.id).values(source_groups=[*incident.source_groups, group_id])
    )
    return True


def set_postmortem(conn: Connection, incident_id: int, text: str) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(postmortem=text))


def _incident(conn: Connection, row: Any) -> Incident:
    roles = {
        r.role: r.person
        for r in conn.execute(select(incident_roles).where(incident_roles.c.incident_id == row.id)).all()
    }
    milestones = {m: as_utc(getattr(row, f"{m}_at")) for m in MILESTONES if getattr(row, f"{m}_at") is not None}
    state = IncidentState(
        status=row.status,
        severity=row.severity,
        declared_at=as_utc(row.declared_at),
        started_at=as_utc(row.started_at),
        milestones=milestones,
        roles=roles,
    )
    return Incident(
        row.id,
        row.slug,
        row.title,
        row.service,
        row.summary,
        row.declared_by,
        row.platform,
        row.channel,
        row.channel_name,
        row.thread,
        row.postmortem,
        state,
        tuple(int(g) for g in row.source_groups or ()),
    )


def get(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return _incident(conn, row) if row is not None else None


def find(conn: Connection, ref: str) -> Incident | None:
    """``3``, ``INC-3``, ``#3`` or a slug."""
    text = ref.strip().lower().removeprefix("#").removeprefix("inc-")
    if text.isdigit():
        return get(conn, int(text))
    row = conn.execute(select(incidents).where(incidents.c.slug == ref.strip().lower())).first()
    return _incident(conn, row) if row is not None else None


def at_place(conn: Connection, platform: str, channel: str, thread: str | None) -> Incident | None:
    """The incident whose war room this is: its channel, or its thread in the shared channel."""
    rows = conn.execute(
        select(incidents)
        .where(incidents.c.platform == platform, incidents.c.channel == channel)
        .order_by(incidents.c.id.desc())
    ).all()
    for row in rows:
        if row.thread is None or row.thread == thread:
            return _incident(conn, row)
    return None


def listing(conn: Connection, *, open_only: bool, final: str, limit: int = 20) -> list[Incident]:
    query = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if open_only:
        query = query.where(incidents.c.status != final)
    return [_incident(conn, row) for row in conn.execute(query).all()]


def declared_since(conn: Connection, since: dt.datetime, limit: int = 10_000) -> list[Incident]:
    rows = conn.execute(
        select(incidents).where(incidents.c.declared_at >= since).order_by(incidents.c.id).limit(limit)
    ).all()
    return [_incident(conn, row) for row in rows]


def add_event(
    conn: Connection,
    incident_id: int,
    *,
    at: dt.datetime,
    kind: str,
    actor: str,
    text: str,
    source: str,
    audit_id: int | None = None,
) -> bool:
    """Append to the timeline; False when ``source`` is already on it (a message pinned twice)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(incident_events).values(
                    incident_id=incident_id,
                    at=at,
                    kind=kind,
                    actor=actor,
                    text=text[:4000],
                    audit_id=audit_id,
                    source=source[:300],
                )
            )
        return True
    except IntegrityError:
        return False


def events(conn: Connection, incident_id: int) -> list[Event]:
    rows = conn.execute(
        select(incident_events)
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.at, incident_events.c.id)
    ).all()
    return [Event(r.id, as_utc(r.at), r.kind, r.actor, r.text, r.audit_id, r.source) for r in rows]


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    owner: str
    due_at: dt.datetime | None
    done_at: dt.datetime | None
    ticket: str


def add_task(
    conn: Connection, incident_id: int, *, title: str, owner: str, due_at: dt.datetime, now: dt.datetime
) -> int:
    result = conn.execute(
        insert(incident_tasks).values(
            incident_id=incident_id, title=title[:300], owner=owner, due_at=due_at, ticket="", created_at=now
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def set_task_ticket(conn: Connection, task_id: int, ticket: str) -> None:
    conn.execute(update(incident_tasks).where(incident_tasks.c.id == task_id).values(ticket=ticket[:200]))


def tasks(conn: Connection, incident_id: int) -> list[Task]:
    rows = conn.execute(
        select(incident_tasks).where(incident_tasks.c.incident_id == incident_id).order_by(incident_tasks.c.id)
    ).all()
    return [Task(r.id, r.title, r.owner, as_utc(r.due_at), as_utc(r.done_at), r.ticket) for r in rows]
