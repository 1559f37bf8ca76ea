"""Tables of incidents (migration 0006_incidents): the incident, its roles, its timeline and
its follow-up tasks. The timeline links to audit rows rather than copying them, so the
postmortem's table points at the tamper-evident record."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(120), nullable=False, unique=True),  # inc-2026-12-03-payments-5xx
    Column("title", String(300), nullable=False),
    Column("severity", String(40), nullable=False),
    Column("status", String(40), nullable=False),
    Column("service", String(120), nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("declared_by", String(200), nullable=False),
    Column("platform", String(40), nullable=False, default=""),
    Column("channel", String(200), nullable=False, default=""),  # the war room (or the thread's channel)
    Column("channel_name", String(200), nullable=False, default=""),  # "#inc-3-…", as audit rows name it (0007)
    Column("thread", String(200)),  # set when the war room is a thread
    Column("source_groups", JSON, nullable=False, default=list),  # alert group keys that led here
    Column("started_at", UTCDateTime(), nullable=False),
    Column("declared_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime()),
    Column("mitigated_at", UTCDateTime()),
    Column("resolved_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("postmortem", Text, nullable=False, default=""),
    Index("ix_incidents_status", "status"),
)

incident_roles = Table(
    "incident_roles",
    metadata,
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(60), primary_key=True),  # one holder per role: the lead is one person
    Column("person", String(200), nullable=False),
    Column("assigned_at", UTCDateTime(), nullable=False),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),  # when it happened (a pinned message keeps its own time)
    Column("kind", String(40), nullable=False),  # status, role, note, run, approval, alert, freeze, …
    Column("actor", String(200), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("audit_id", BigInteger),  # the audit row this came from, when it did
    Column("source", String(300), nullable=False, default=""),  # dedup key: audit:<id>, msg:<platform>:<id>
    UniqueConstraint("incident_id", "source", name="uq_incident_events_source"),
    Index("ix_incident_events_incident_at", "incident_id", "at"),
)

incident_tasks = Table(
    "incident_tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("owner", String(200), nullable=False, default=""),
    Column("due_at", UTCDateTime()),
    Column("done_at", UTCDateTime()),
    Column("ticket", String(200), nullable=False, default=""),  # provider:id once it became a ticket
    Column("created_at", UTCDateTime(), nullable=False),
)
