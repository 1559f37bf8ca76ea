"""Tables of the built-in web chat (migration 0005_webchat): its messages, browser sessions
and personal API tokens.

The web chat keeps its history in opsroom's own database, so sensitive output never sits in
a SaaS vendor's history. Sessions and tokens are stored as SHA-256 hashes only: a copy of
the database does not let anyone sign in.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, Integer, String, Table, Text

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

TS = UTCDateTime()

webchat_messages = Table(
    "webchat_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),  # "ops", or "dm:alice" for a DM with the bot
    Column("thread", Id),  # the id of the thread's first message; NULL = top level
    Column("sender", String(200), nullable=False),  # a user name, or "opsroom" for the bot
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("text", Text, nullable=False, default=""),  # what a person typed / the bot's summary
    Column("body", JSON),  # the bot's Message model (opsroom.chat.web.codec); NULL for people
    Column("visible_to", String(200)),  # ephemeral: only this user sees it; NULL = everyone there
    Column("created_at", TS, nullable=False),
    Column("edited_at", TS),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_webchat_messages_channel_id", "channel", "id"),
    Index("ix_webchat_messages_thread", "thread"),  # migration 0007_webchat: thread pane, reply counts
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user", String(200), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_web_sessions_expires_at", "expires_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user", String(200), nullable=False),
    Column("name", String(100), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the token
    Column("prefix", String(16), nullable=False),  # first characters, to tell tokens apart
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS),
    Column("last_used_at", TS),
    Column("revoked", Boolean, nullable=False, default=False),
    Index("ix_api_tokens_user", "user"),
)


# Channels created at run time (an incident's war room); configured ones live in opsroom.yaml.
# Migration 0007_incidents2.
webchat_channels = Table(
    "webchat_channels",
    metadata,
    Column("id", String(200), primary_key=True),  # "inc-3-payments-down", used in URLs
    Column("name", String(200), nullable=False),  # "#inc-3-payments-down"
    Column("description", Text, nullable=False, default=""),
    Column("members", JSON, nullable=False),  # like channels[].members: [] = every configured user
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("archived_at", TS),
)
