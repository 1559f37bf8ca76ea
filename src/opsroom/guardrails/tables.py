"""Tables of the guardrails (migration 0002_guardrails): runs held for approval or
confirmation, the votes cast on them, and change freezes switched on from chat.

Holds live in the database, not in memory, so pending approvals survive a restart.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

TS = UTCDateTime()

guard_holds = Table(
    "guard_holds",
    metadata,
    Column("run_id", Id, nullable=False),
    Column("kind", String(20), nullable=False),  # "approval" | "confirmation"
    Column("state", String(20), nullable=False),  # pending | approved | confirmed | denied | expired | cancelled
    Column("fingerprint", String(64), nullable=False),  # Invocation.fingerprint() when requested
    Column("requester", String(200), nullable=False),
    Column("requirements", JSON, nullable=False),  # list of Requirement fields
    Column("flags", JSON, nullable=False),  # engine flags of the invocation (dry_run, break_glass…)
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("decided_at", TS),
    Column("decided_by", String(200), nullable=False, default=""),
    PrimaryKeyConstraint("run_id", "kind"),
    Index("ix_guard_holds_state", "state"),
)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, nullable=False),
    Column("voter", String(200), nullable=False),
    Column("vote", String(10), nullable=False),  # "approve" | "deny"
    Column("fingerprint", String(64), nullable=False),  # the command the voter saw
    Column("reason", Text, nullable=False, default=""),
    Column("at", TS, nullable=False),
    # One vote per person per run: an approver can never count twice, even racing themselves.
    UniqueConstraint("run_id", "voter", name="uq_approval_votes_run_voter"),
)


freezes = Table(
    "freezes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("commands", JSON, nullable=False),  # [] = the configured default
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("lifted_at", TS),
    Column("lifted_by", String(200)),
    Index("ix_freezes_ends_at", "ends_at"),
)
