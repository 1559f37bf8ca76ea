"""``ticket_origins``: every ticket opsroom opened, whatever the provider — what opened it
(a run's hook, an incident follow-up, a desk question, ``/ticket open``), in which channel,
and the chat thread — and how to say a provider in plain words.

Written right after the provider answers (the ticket exists by then; a failure here is
logged, never turned into a failed ticket). Read by the console's ticket and alert pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, insert, select

from opsroom.integrations.tickets.tables import ticket_origins
from opsroom.store import Database
from opsroom.store.types import utcnow

log = structlog.get_logger(__name__)

# How chat and the console name a provider type (never its config key or module name).
KIND_WORDS = {
    "BuiltinTickets": "built-in tracker",
    "JiraTickets": "Jira",
    "ServiceNowTickets": "ServiceNow",
    "GitHubIssues": "GitHub issues",
}


def provider_words(provider: Any) -> str:
    """``built-in tracker``, ``Jira``, ``ServiceNow``, ``GitHub issues``: for people."""
    inner = getattr(provider, "_inner", provider)
    return KIND_WORDS.get(type(inner).__name__, "ticket system")


def note(db: Database, key: str, made: Any, asked: Any, clean: Callable[[str], str]) -> None:
    try:
        with db.begin() as conn:
            conn.execute(
                insert(ticket_origins).values(
                    provider=key[:100],
                    ticket_id=str(made.id)[:120],
                    title=clean(made.title or asked.title)[:300],
                    url=made.url or "",
                    opened_by=(asked.author or "opsroom")[:200],
                    origin=asked.origin[:20],
                    origin_id=str(asked.origin_id)[:40],
                    channel_name=asked.channel[:200],
                    thread_link=asked.thread_link or "",
                    created_at=utcnow(),
                )
            )
    except Exception:  # the ticket exists; the console just will not list where it came from
        log.exception("ticket_origin_not_noted", provider=key, ticket=str(made.id))


def listing(conn: Connection, *, limit: int = 500, before_id: int | None = None) -> Sequence[Any]:
    query = select(ticket_origins).order_by(ticket_origins.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(ticket_origins.c.id < before_id)
    return conn.execute(query).all()


def of_ticket(conn: Connection, provider: str, ticket_id: str) -> Any:
    return conn.execute(
        select(ticket_origins)
        .where(ticket_origins.c.provider == provider, ticket_origins.c.ticket_id == ticket_id)
        .order_by(ticket_origins.c.id)
        .limit(1)
    ).first()


def opened_by(conn: Connection, origin: str, ids: Sequence[str]) -> Sequence[Any]:
    """Tickets opened by these runs / alerts / incidents."""
    if not ids:
        return []
    return conn.execute(
        select(ticket_origins)
        .where(ticket_origins.c.origin == origin, ticket_origins.c.origin_id.in_(list(ids)))
        .order_by(ticket_origins.c.id)
    ).all()
