"""The old access keys opsroom will delete (migration 0007_cloud). A row is written before
the old key is deactivated, so a restart — or a crash in between — still finds every key
it owes a deletion; the sweeper (schedule.py) re-reads it from here."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

key_deletions = Table(
    "cloud_key_deletions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(40), nullable=False),  # aws
    Column("environment", String(100), nullable=False),  # integrations.aws.environments key
    Column("user_name", String(128), nullable=False),  # the IAM user owning the key
    Column("key_id", String(128), nullable=False),  # the old access key id (not a secret)
    Column("new_key_id", String(128), nullable=False, default=""),
    Column("state", String(20), nullable=False),  # scheduled | deleted | cancelled
    Column("due_at", UTCDateTime(), nullable=False),
    Column("run_id", Id),  # the rotation run that scheduled it
    Column("requested_by", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Index("ix_cloud_key_deletions_state_due", "state", "due_at"),
)
