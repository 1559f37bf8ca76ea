"""An incident's timeline: what people put on it (declaration, status and role changes,
notes, updates, pinned messages, runbook steps — ``incident_events``) merged with what
opsroom audited in its war room while it was open (runs, approvals, freezes, break-glass,
alert changes). The audit rows are read, not copied, so each entry links to the
tamper-evident record it came from and nothing can drift apart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, and_, or_, select

from opsroom.core import Context, Message, Section
from opsroom.incidents import store as incident_store
from opsroom.incidents.store import Incident
from opsroom.store import time_order
from opsroom.store.tables import audit_log, runs
from opsroom.store.types import as_utc

# Audit actions that tell the story; the command's own "received"/"decision" rows and the
# incident's rows (already events) would only repeat it.
_SKIP = ("decision", "incident.", "runbook.", "hook", "parse_error")
MAX_ENTRIES = 2000


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: str
    actor: str
    text: str
    audit_id: int | None = None


def _audit_rows(conn: Connection, incident: Incident) -> list[Entry]:
    if not incident.channel_name:
        return []
    state = incident.state
    until = state.milestones.get("closed")
    where = [
        audit_log.c.platform == incident.platform,
        audit_log.c.channel == incident.channel_name,
        audit_log.c.ts >= state.declared_at,
    ]
    if until is not None:
        where.append(audit_log.c.ts <= until)
    if incident.thread is not None:
        # A shared channel: only the runs started in this incident's thread.
        in_thread = select(runs.c.id).where(runs.c.thread == incident.thread, runs.c.channel == incident.channel)
        where.append(audit_log.c.run_id.in_(in_thread))
    if incident.source_groups:
        # Linked alert groups: their alert rows count wherever they were posted.
        linked = or_(*[audit_log.c.summary.like(f"%group #{g} %") for g in incident.source_groups])
        since = [audit_log.c.ts >= state.declared_at] + ([audit_log.c.ts <= until] if until is not None else [])
        where = [or_(and_(*where), and_(audit_log.c.action.like("alert.%"), linked, *since))]
    # SQLite: the open period's id range (no time index there: store/time_order.py)
    where += time_order.id_range(conn, audit_log, state.declared_at, until).clauses
    skip = or_(
        *[audit_log.c.action.like(p + "%") if p.endswith(".") else audit_log.c.action == p for p in _SKIP],
        # what was typed, only for commands that became runs (built-ins are events already)
        and_(audit_log.c.action == "command.received", audit_log.c.run_id.is_(None)),
    )
    rows = conn.execute(
        select(audit_log.c.id, audit_log.c.ts, audit_log.c.actor, audit_log.c.action, audit_log.c.summary)
        .where(and_(*where), ~skip)
        .order_by(audit_log.c.id)
        .limit(MAX_ENTRIES)
    ).all()
    return [Entry(as_utc(r.ts), _kind(r.action), r.actor, r.summary, r.id) for r in rows]


def _kind(action: str) -> str:
    return "command" if action == "command.received" else action.split(".", 1)[0]


def entries(conn: Connection, incident: Incident) -> list[Entry]:
    own = [
        Entry(e.at, e.kind, e.actor, e.text, e.audit_id)
        for e in incident_store.events(conn, incident.id)
        if e.kind != "reminder"
    ]  # reminders nag the room; they are not part of the story
    merged = own + _audit_rows(conn, incident)
    return sorted(merged, key=lambda e: (e.at, e.audit_id or 0))


def as_message(incident: Incident, items: list[Entry], *, last: int = 30) -> Message:
    shown = items[-last:]
    lines = [
        f"`{e.at:%H:%M:%S}` {e.kind} · {e.actor} · {e.text}" + (f" (audit #{e.audit_id})" if e.audit_id else "")
        for e in shown
    ]
    more = (
        f"showing the last {last} of {len(items)}; the console has all of them"
        if len(items) > last
        else f"{len(items)} entries, times in UTC"
    )
    return Message(
        f"{incident.label} timeline",
        (
            Section(f"🕒 *{incident.label}* {incident.title} · {incident.state.status}"),
            Section("\n".join(lines) or "nothing yet"),
            Context(more),
        ),
    )
