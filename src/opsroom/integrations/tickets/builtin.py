"""The built-in ticket store: tickets in opsroom's own database, so the embedded default
has a service desk with nothing else installed. It also keeps simple change tickets
(a title, a window and an approval by someone other than the requester) for change review.

Database calls are short and synchronous, on the event loop thread, like the rest of the
store (see opsroom.store.db).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opsroom.integrations.tickets.base import (
    Change,
    Comment,
    NewTicket,
    Ticket,
    TicketError,
    TicketNotFound,
    check_priority,
)
from opsroom.integrations.tickets.tables import ticket_comments, tickets
from opsroom.store import Database
from opsroom.store.types import as_utc, utcnow

_CHANGE_REF = re.compile(r"^(?:CHG-?)?0*(\d{1,12})$", re.IGNORECASE)
MAX_TITLE = 300
MAX_TEXT = 20_000


def change_ref(number: int) -> str:
    return f"CHG{number:07d}"


class BuiltinTickets:
    name = "builtin"

    def __init__(self, db: Database, *, public_url: str = "") -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")

    def _url(self, number: int) -> str:
        return f"{self.public_url}/console/tickets/{number}" if self.public_url else ""

    @staticmethod
    def _number(ticket_id: str) -> int:
        text = ticket_id.strip().lstrip("#")
        if not text.isdigit() or len(text) > 12:
            raise TicketNotFound(f"{ticket_id!r} is not a ticket number")
        return int(text)

    async def create(self, ticket: NewTicket) -> Ticket:
        title = _clean_title(ticket.title)
        now = utcnow()
        with self.db.begin() as conn:
            result = conn.execute(
                insert(tickets).values(
                    kind="ticket",
                    title=title,
                    body=ticket.body[:MAX_TEXT],
                    status="open",
                    priority=check_priority(ticket.priority),
                    opened_by=ticket.author or "opsroom",
                    thread_link=ticket.thread_link,
                    created_at=now,
                    updated_at=now,
                    resolution="",
                    approval="",
                )
            )
            number = _new_id(result)
            return self._load(conn, number)

    async def get(self, ticket_id: str) -> Ticket:
        with self.db.read() as conn:
            return self._load(conn, self._number(ticket_id))

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None:
        if not text.strip():
            raise TicketError("the comment is empty")
        number = self._number(ticket_id)
        with self.db.begin() as conn:
            self._row(conn, number)
            now = utcnow()
            conn.execute(
                insert(ticket_comments).values(
                    ticket_id=number, author=author or "opsroom", body=text[:MAX_TEXT], created_at=now
                )
            )
            conn.execute(update(tickets).where(tickets.c.id == number).values(updated_at=now))

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket:
        number = self._number(ticket_id)
        with self.db.begin() as conn:
            row = self._row(conn, number)
            if row.status == "closed":
                raise TicketError(f"ticket #{number} is already closed")
            now = utcnow()
            conn.execute(
                update(tickets)
                .where(tickets.c.id == number)
                .values(
                    status="closed",
                    closed_at=now,
                    closed_by=author or "opsroom",
                    resolution=resolution[:MAX_TEXT],
                    updated_at=now,
                )
            )
            return self._load(conn, number)

    async def list(self, *, status: str | None = "open", limit: int = 50) -> list[Ticket]:
        """Newest first; the console page and ``/ticket`` without an id use this."""
        query = select(tickets).where(tickets.c.kind == "ticket").order_by(tickets.c.id.desc()).limit(limit)
        if status:
            query = query.where(tickets.c.status == status)
        with self.db.read() as conn:
            return [self._ticket(row, ()) for row in conn.execute(query)]

    # -- change tickets -------------------------------------------------------------------

    async def create_change(
        self,
        title: str,
        *,
        start: dt.datetime,
        end: dt.datetime,
        author: str,
        body: str = "",
        thread_link: str = "",
    ) -> Change:
        if start.tzinfo is None or end.tzinfo is None:
            raise TicketError("a change window needs times with a time zone")
        if end <= start:
            raise TicketError("a change window must end after it starts")
        now = utcnow()
        with self.db.begin() as conn:
            result = conn.execute(
                insert(tickets).values(
                    kind="change",
                    title=_clean_title(title),
                    body=body[:MAX_TEXT],
                    status="open",
                    priority="p3",
                    opened_by=author,
                    thread_link=thread_link,
                    created_at=now,
                    updated_at=now,
                    resolution="",
                    approval="requested",
                    window_start=start,
                    window_end=end,
                )
            )
            number = _new_id(result)
        return await self.get_change(change_ref(number))

    async def decide_change(self, change_id: str, *, approver: str, approve: bool) -> Change:
        """Approve or reject a change; the requester may not approve their own change."""
        number = self._change_number(change_id)
        with self.db.begin() as conn:
            row = self._row(conn, number, kind="change")
            if approve and row.opened_by == approver:
                raise TicketError(f"{change_ref(number)} was requested by {approver}; someone else must approve it")
            conn.execute(
                update(tickets)
                .where(tickets.c.id == number)
                .values(approval="approved" if approve else "rejected", approved_by=approver, updated_at=utcnow())
            )
        return await self.get_change(change_id)

    async def get_change(self, change_id: str) -> Change:
        number = self._change_number(change_id)
        with self.db.read() as conn:
            row = self._row(conn, number, kind="change")
        return Change(
            id=change_ref(number),
            title=row.title,
            approved=row.approval == "approved",
            approval=row.approval,
            state=row.status,
            in_state_to_run=row.status == "open",
            start=as_utc(row.window_start),
            end=as_utc(row.window_end),
            url=self._url(number),
        )

    @staticmethod
    def _change_number(change_id: str) -> int:
        match = _CHANGE_REF.match(change_id.strip())
        if not match:
            raise TicketNotFound(f"{change_id!r} is not a change number (like CHG0000042)")
        return int(match.group(1))

    # -- rows -----------------------------------------------------------------------------

    def _row(self, conn: Connection, number: int, *, kind: str = "ticket") -> Any:
        row = conn.execute(select(tickets).where(tickets.c.id == number)).first()
        if row is None or row.kind != kind:
            what = "change" if kind == "change" else "ticket"
            ref = change_ref(number) if kind == "change" else f"#{number}"
            raise TicketNotFound(f"there is no {what} {ref}")
        return row

    def _load(self, conn: Connection, number: int) -> Ticket:
        row = self._row(conn, number)
        comments = tuple(
            Comment(c.author, c.body, as_utc(c.created_at))
            for c in conn.execute(
                select(ticket_comments).where(ticket_comments.c.ticket_id == number).order_by(ticket_comments.c.id)
            )
        )
        return self._ticket(row, comments)

    def _ticket(self, row: Any, comments: tuple[Comment, ...]) -> Ticket:
        return Ticket(
            id=str(row.id),
            title=row.title,
            status=row.status,
            url=self._url(row.id),
            priority=row.priority,
            body=row.body,
            provider=self.name,
            closed=row.status == "closed",
            author=row.opened_by,
            thread_link=row.thread_link,
            comments=comments,
        )


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - both backends return the new id
        raise TicketError("the database did not return the new ticket's number")
    return int(key[0])


def _clean_title(title: str) -> str:
    text = " ".join(title.split())
    if not text:
        raise TicketError("a ticket needs a title")
    if len(text) > MAX_TITLE:
        raise TicketError(f"the title is {len(text)} characters long; the limit is {MAX_TITLE}")
    return text
