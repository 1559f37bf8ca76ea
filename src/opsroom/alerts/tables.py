"""Alert and on-call tables (migration ``0003_alerts``).

State is kept per (group, fingerprint): an alert routed to two channels is two rows, one in
each channel's group, so each message can be edited on its own. ``open_key`` is the group
key while the group is open and NULL once its resolution has been posted, so the next firing
starts a fresh message (NULLs never collide in a unique index, on SQLite or PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

# References to an Id column: BIGINT on PostgreSQL, INTEGER on SQLite.
RefId = BigInteger().with_variant(Integer(), "sqlite")

alert_groups = Table(
    "alert_groups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("open_key", String(64), unique=True),
    Column("group_key", String(64), nullable=False),
    Column("route", String(200), nullable=False),
    Column("platform", String(50), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("channel_name", String(200), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("source", String(100), nullable=False),
    Column("source_type", String(30), nullable=False),
    Column("external_url", String(2000), nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    Column("severity", String(50), nullable=False, default="none"),
    Column("status", String(20), nullable=False),  # firing | resolved
    # pending (before first post) | live (own message) | digest (collapsed by the budget)
    # | scheduled (waits for the scheduled digest) | muted (every alert silenced)
    Column("delivery", String(20), nullable=False, default="pending"),
    Column("message_id", String(200)),
    Column("thread", String(200)),
    Column("digest_id", RefId),
    Column("version", Integer, nullable=False, default=0),
    Column("dirty", Boolean, nullable=False, default=True),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("first_notified_at", UTCDateTime()),
    Column("last_notified_at", UTCDateTime()),
    Column("next_due_at", UTCDateTime()),
    Column("acked_by", String(200)),
    Column("acked_at", UTCDateTime()),
    Column("silenced_until", UTCDateTime()),
    Column("silence_ref", String(200)),
    Column("escalation", String(100), nullable=False, default=""),
    Column("escalation_pos", Integer, nullable=False, default=0),
    Column("escalation_next_at", UTCDateTime()),
    Column("digested_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Index("ix_alert_groups_next_due_at", "next_due_at"),
    Index("ix_alert_groups_escalation_next_at", "escalation_next_at"),
    Index("ix_alert_groups_channel_name", "channel_name"),
    Index("ix_alert_groups_delivery", "delivery"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("group_id", RefId, ForeignKey("alert_groups.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("alertname", String(200), nullable=False),
    Column("severity", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("notified_status", String(20)),  # what the chat message last showed
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("starts_at", UTCDateTime()),
    Column("ends_at", UTCDateTime()),
    Column("generator_url", Text, nullable=False, default=""),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("changes", JSON, nullable=False),  # recent status-change times, epoch seconds
    Column("flapping", Boolean, nullable=False, default=False),
    Column("muted", Boolean, nullable=False, default=False),
    # Stored alerts are found by this pair only (no index on the fingerprint alone: every
    # insert would write one more random page; migration 0009_alerts_intake).
    UniqueConstraint("group_id", "fingerprint", name="uq_alerts_group_fingerprint"),
    Index("ix_alerts_flapping", "flapping"),
)

# One row per firing or resolution, for `/alerts noise` and flapping history.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts", UTCDateTime(), nullable=False),
    Column("group_id", RefId, nullable=False),
    Column("channel_name", String(200), nullable=False),
    Column("alertname", String(200), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("status", String(20), nullable=False),
    Index("ix_alert_events_ts", "ts"),
)

# Silences: opsroom-side mutes, and a record of each Alertmanager silence we created.
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("matchers", JSON, nullable=False),  # {label: value}, all must match
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("group_id", RefId),
    Column("alertmanager_url", String(2000), nullable=False, default=""),
    Column("alertmanager_id", String(100), nullable=False, default=""),
    Column("cancelled_at", UTCDateTime()),
    Index("ix_alert_silences_ends_at", "ends_at"),
)

# Digest messages: "budget" (storm collapse, one per channel per window) and "scheduled".
alert_digests = Table(
    "alert_digests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("platform", String(50), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("channel_name", String(200), nullable=False),
    Column("message_id", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("dirty", Boolean, nullable=False, default=True),
    Index("ix_alert_digests_channel_name", "channel_name"),
)

oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule", String(100), nullable=False),
    Column("user", String(200), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_oncall_overrides_schedule", "schedule"),
)

__all__ = ["alert_digests", "alert_events", "alert_groups", "alert_silences", "alerts", "oncall_overrides"]
