"""Slack installations kept in opsroom's database (migration 0008_slack), for the
multi-workspace OAuth install (docs/adapters/slack.md). One row per workspace: its bot token
and refresh token encrypted with a key derived from the server's secret key (never stored,
logged or audited in the clear); the OAuth ``state`` values handed to installers' browsers,
each usable once before it expires.

Imports nothing of Slack's: ``opsroom.store.schema`` loads it whether Slack is configured or not.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String, Table, Text

from opsroom.store.tables import metadata
from opsroom.store.types import UTCDateTime

slack_installations = Table(
    "slack_installations",
    metadata,
    Column("team_id", String(40), primary_key=True),  # T…: the workspace
    Column("team_name", String(200), nullable=False, default=""),
    Column("enterprise_id", String(40), nullable=False, default=""),
    Column("app_id", String(40), nullable=False, default=""),
    Column("bot_id", String(40), nullable=False, default=""),
    Column("bot_user_id", String(40), nullable=False, default=""),
    Column("bot_scopes", Text, nullable=False, default=""),
    Column("bot_token", Text, nullable=False),  # encrypted (Fernet)
    Column("bot_refresh_token", Text, nullable=False, default=""),  # encrypted, "" without rotation
    Column("bot_token_expires_at", UTCDateTime()),
    Column("installer_user_id", String(40), nullable=False, default=""),
    Column("is_enterprise_install", Boolean, nullable=False, default=False),
    Column("installed_at", UTCDateTime(), nullable=False),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    metadata,
    Column("state", String(100), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
)
