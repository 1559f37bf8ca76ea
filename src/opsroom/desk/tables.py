"""The desk's record of questions (migration 0007_desk): what was asked, what was suggested,
and how it ended — the deflection rate is counted from these rows, and a button on a
suggestion carries only the question's id."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

desk_questions = Table(
    "desk_questions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("asker", String(200), nullable=False),
    Column("platform", String(40), nullable=False),
    Column("channel", String(200), nullable=False),  # the name, as the audit and policy see it
    Column("channel_id", String(200), nullable=False),  # the platform's id, to settle the message
    Column("thread", String(200)),
    Column("message_id", String(200)),  # the suggestion message, settled in place after a click
    Column("question", Text, nullable=False),  # redacted before it is stored
    Column("suggestions", JSON, nullable=False, default=list),  # [{article, anchor, title, confidence}]
    Column("outcome", String(20), nullable=False),  # suggested | no_match | solved | escalated | dismissed
    Column("ticket", String(120)),
    Column("asked_at", UTCDateTime(), nullable=False),
    Column("settled_at", UTCDateTime()),
)
Index("ix_desk_questions_asked_at", desk_questions.c.asked_at)

# Tokens each person used with the desk's AI, per UTC day (desk.ai.daily_tokens_per_user).
desk_ai_usage = Table(
    "desk_ai_usage",
    metadata,
    Column("user", String(200), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("tokens", Integer, nullable=False, default=0),
)
