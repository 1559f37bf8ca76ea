"""Cluster tables: ``replicas`` (migration 0007_cluster), one row per live or recently dead
replica; ``chat_pace`` (0008_cluster_pace), when each chat channel may next be posted to."""

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

chat_pace = Table(
    "chat_pace",
    metadata,
    Column("key", String(300), primary_key=True),  # "<platform>:<channel>"
    Column("next_at", UTCDateTime(), nullable=False),  # the database's clock
)
