"""Console pages of tickets: the list (every ticket opsroom opened, any provider, plus the
built-in tracker's own) and one ticket's page — its provider in plain words, the external
link, what opened it (a run, an alert, an incident, a desk question, ``/ticket open``) and
its chat thread; for the built-in tracker also its status, text and comments.

Visibility follows chat, like the audit and the incident pages: you see a ticket you opened,
or one opened from a channel you can read (an auditor sees all). The pages need the policy's
``ticket``, the chat command that shows tickets. Not there and not yours look the same (404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from opsroom.audit.visibility import AuditScope, scope_for
from opsroom.integrations.tickets import origins
from opsroom.integrations.tickets.tables import ticket_comments, tickets
from opsroom.store.types import as_utc
from opsroom.web.context import CONSOLE_PLACE, Viewer, WebContext

PERMISSION = "ticket"
BUILTIN = "builtin"  # the desk's key of the built-in tracker (tickets/desk.build_desk)
ORIGIN_WORDS = {
    "run": "run",
    "alert": "alert",
    "incident": "incident",
    "desk": "help desk question",
    "chat": "typed in chat",
}
MAX_ID = 2**62


@dataclass(frozen=True)
class TicketEntry:
    provider: str  # the desk's key (never shown: ``words`` is)
    words: str  # "built-in tracker", "Jira"…
    ticket_id: str
    title: str
    status: str
    url: str  # the external page ("" for the built-in tracker: its page is ours)
    opened_by: str
    origin: str
    origin_id: str
    channel_name: str
    thread_link: str
    created_at: dt.datetime | None

    @property
    def ref(self) -> str:
        return f"#{self.ticket_id}" if self.ticket_id.isdigit() else self.ticket_id

    @property
    def page(self) -> str:
        if self.provider == BUILTIN:
            return f"/console/tickets/{self.ticket_id}"
        return f"/console/tickets/{self.provider}/{self.ticket_id}"

    @property
    def origin_link(self) -> tuple[str, str]:
        """(label, console path or "") of what opened it."""
        pages = {"run": "runs", "alert": "alerts", "incident": "incidents"}
        if self.origin in pages and self.origin_id.isdigit():
            label = f"INC-{self.origin_id}" if self.origin == "incident" else f"{self.origin} #{self.origin_id}"
            return label, f"/console/{pages[self.origin]}/{self.origin_id}"
        if self.origin == "desk":
            return f"help desk question #{self.origin_id}", ""
        if self.origin == "chat":
            return f"typed in {self.channel_name}" if self.channel_name else "typed in chat", ""
        return "", ""


def may_see(scope: AuditScope, viewer: Viewer, entry: TicketEntry) -> bool:
    if scope.everything or entry.opened_by == viewer.principal.name:
        return True
    return bool(entry.channel_name) and scope.may_read_channel(entry.channel_name)


def entries(system: Any, conn: Any, words: dict[str, str]) -> list[TicketEntry]:
    """Every ticket opsroom knows, newest first: the noted ones (any provider) and the
    built-in tracker's (also those opened before tickets were noted)."""
    noted = origins.listing(conn, limit=500)
    found: dict[tuple[str, str], TicketEntry] = {}
    for row in noted:
        found.setdefault((row.provider, row.ticket_id), from_origin(row, words))
    builtin = conn.execute(select(tickets).order_by(tickets.c.id.desc()).limit(500)).all()
    for row in builtin:
        key = (BUILTIN, str(row.id))
        noted_row = found.get(key)
        found[key] = from_builtin(row, noted_row)
    return sorted(found.values(), key=lambda e: e.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)


def from_origin(row: Any, words: dict[str, str]) -> TicketEntry:
    return TicketEntry(
        provider=row.provider,
        words=words.get(row.provider, "ticket system"),
        ticket_id=row.ticket_id,
        title=row.title,
        status="",
        url=row.url if row.provider != BUILTIN else "",
        opened_by=row.opened_by,
        origin=row.origin,
        origin_id=row.origin_id,
        channel_name=row.channel_name,
        thread_link=row.thread_link,
        created_at=as_utc(row.created_at),
    )


def from_builtin(row: Any, noted: TicketEntry | None) -> TicketEntry:
    return TicketEntry(
        provider=BUILTIN,
        words="built-in tracker",
        ticket_id=str(row.id),
        title=row.title,
        status=row.status,
        url="",
        opened_by=row.opened_by,
        origin=noted.origin if noted else "",
        origin_id=noted.origin_id if noted else "",
        channel_name=noted.channel_name if noted else "",
        thread_link=row.thread_link or (noted.thread_link if noted else ""),
        created_at=as_utc(row.created_at),
    )


def provider_words(system: Any) -> dict[str, str]:
    desk = system.engine.parts.extras.get("tickets.desk")
    if desk is None:
        return {BUILTIN: "built-in tracker"}
    return {key: origins.provider_words(p) for key, p in desk.providers.items()}


def routes(ctx: WebContext) -> list[BaseRoute]:
    system = ctx.system

    def gate(request: Request) -> tuple[Viewer | None, Response | None]:
        return ctx.page_gate(request, PERMISSION)

    def scope(viewer: Viewer) -> AuditScope:
        return scope_for(viewer.principal, system.config.channels, system.engine.parts.policy, CONSOLE_PLACE)

    def filters(request: Request) -> dict[str, str]:
        return {
            k: str(request.query_params.get(k, "")).replace("\x00", "")[:200].strip()
            for k in ("status", "provider", "origin", "q")
        }

    async def tickets_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        words = provider_words(system)
        shown = filters(request)
        with system.db.read() as conn:
            every = entries(system, conn, words)
        seen = scope(viewer)
        rows = [e for e in every if may_see(seen, viewer, e)]
        if shown["status"]:
            rows = [e for e in rows if e.status == shown["status"]]
        if shown["provider"]:
            rows = [e for e in rows if e.words == shown["provider"]]
        if shown["origin"]:
            rows = [e for e in rows if e.origin == shown["origin"]]
        if shown["q"]:
            rows = [e for e in rows if shown["q"].lower() in e.title.lower()]
        return ctx.render(
            "tickets.html",
            request,
            viewer,
            nav="tickets",
            tickets=rows[:200],
            filters=shown,
            providers=sorted(set(words.values())),
            origins=ORIGIN_WORDS,
        )

    def not_found(request: Request, viewer: Viewer) -> Response:
        return ctx.render(
            "error.html", request, viewer, status=404, nav="tickets", message="There is no such ticket you may see."
        )

    async def ticket_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        provider = request.path_params.get("provider", BUILTIN)
        ticket_id = str(request.path_params["ticket_id"])
        if provider == BUILTIN and (not ticket_id.isdigit() or int(ticket_id) > MAX_ID):
            return not_found(request, viewer)
        words = provider_words(system)
        comments: list[Any] = []
        body = resolution = ""
        with system.db.read() as conn:
            noted = origins.of_ticket(conn, provider, ticket_id[:120])
            entry = from_origin(noted, words) if noted is not None else None
            if provider == BUILTIN:
                row = conn.execute(select(tickets).where(tickets.c.id == int(ticket_id))).first()
                if row is None:
                    return not_found(request, viewer)
                entry = from_builtin(row, entry)
                body, resolution = row.body, row.resolution
                comments = list(
                    conn.execute(
                        select(ticket_comments)
                        .where(ticket_comments.c.ticket_id == row.id)
                        .order_by(ticket_comments.c.id)
                        .limit(200)
                    )
                )
        if entry is None or not may_see(scope(viewer), viewer, entry):
            return not_found(request, viewer)
        return ctx.render(
            "ticket.html",
            request,
            viewer,
            nav="tickets",
            ticket=entry,
            body=body,
            resolution=resolution,
            comments=comments,
            external=entry.url if entry.url.startswith(("https://", "http://")) else "",
        )

    return [
        Route("/console/tickets", tickets_page),
        Route("/console/tickets/{ticket_id:int}", ticket_page),
        Route("/console/tickets/{provider:str}/{ticket_id:str}", ticket_page),
    ]
