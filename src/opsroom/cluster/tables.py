"""The replicas table (migration 0007_cluster): one row per live or recently dead replica."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from opsroom.store.tables import metadata
from opsroom.store.types import UTCDateTime

replicas = Table(
    "replicas",
    metadata,
    Column("id", String(200), primary_key=True),  # cluster.identity.REPLICA_ID
    Column("started_at", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
)
