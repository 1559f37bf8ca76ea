"""Tables of the built-in ticket store (migration 0004_tickets)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False, default="ticket"),  # "ticket" | "change"
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="open"),  # "open" | "closed"
    Column("priority", String(5), nullable=False, default="p3"),
    Column("opened_by", String(200), nullable=False),
    Column("thread_link", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime()),
    Column("closed_by", String(200)),
    Column("resolution", Text, nullable=False, default=""),
    # change tickets only: approval "requested" | "approved" | "rejected", and the window
    Column("approval", String(20), nullable=False, default=""),
    Column("approved_by", String(200)),
    Column("window_start", UTCDateTime()),
    Column("window_end", UTCDateTime()),
    Index("ix_tickets_status", "status"),
)

ticket_comments = Table(
    "ticket_comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_ticket_comments_ticket_id", "ticket_id"),
)

# Every ticket opsroom opened, whatever the provider (migration 0008_ticket_origins): what
# opened it (a run's hook, an alert, an incident follow-up, a desk question, `/ticket open`),
# where, and the chat thread, so the console can list and link them.
ticket_origins = Table(
    "ticket_origins",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(100), nullable=False),
    Column("ticket_id", String(120), nullable=False),
    Column("title", String(300), nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("opened_by", String(200), nullable=False, default=""),
    Column("origin", String(20), nullable=False, default=""),  # run | alert | incident | desk | chat
    Column("origin_id", String(40), nullable=False, default=""),
    Column("channel_name", String(200), nullable=False, default=""),
    Column("thread_link", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_ticket_origins_ticket", "provider", "ticket_id"),
    Index("ix_ticket_origins_origin", "origin", "origin_id"),
)
