"""The TicketProvider protocol every ticket system sits behind, and the plain records it
speaks in. Ids are strings because each vendor has its own shape: ``17`` (built-in, GitHub),
``OPS-123`` (Jira), ``INC0010001`` (ServiceNow)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from opsroom.errors import Refusal

PRIORITIES = ("p1", "p2", "p3", "p4")


class TicketError(Refusal):
    """A ticket operation failed; the message is safe to show in chat."""


class TicketNotFound(TicketError):
    pass


class ChangeRefused(TicketError):
    """A change ticket does not allow the run now (not approved, outside its window…)."""


@dataclass(frozen=True)
class NewTicket:
    title: str
    body: str = ""
    priority: str = "p3"
    author: str = ""  # the opsroom user on whose behalf the ticket is opened
    thread_link: str = ""  # where the conversation is; providers link back to it
    labels: tuple[str, ...] = ()
    #: Marks the ticket so a retry can find it instead of opening a second one (providers put
    #: it in a label, a correlation field or a hidden marker). Empty: a fresh key per create.
    dedup_key: str = ""
    #: What opened it, for the console's ticket pages: ``run`` / ``alert`` / ``incident`` /
    #: ``desk`` / ``chat`` and that thing's id, and the channel it happened in.
    origin: str = ""
    origin_id: str = ""
    channel: str = ""


@dataclass(frozen=True)
class Comment:
    author: str
    body: str
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Ticket:
    id: str
    title: str
    status: str  # the provider's own status name ("open", "In Progress", "Resolved"…)
    url: str = ""
    priority: str = ""
    body: str = ""
    provider: str = ""
    closed: bool = False
    author: str = ""
    thread_link: str = ""
    comments: tuple[Comment, ...] = ()

    @property
    def ref(self) -> str:
        """How chat shows it: ``#17`` for numeric ids, the key itself otherwise."""
        return f"#{self.id}" if self.id.isdigit() else self.id


@dataclass(frozen=True)
class Change:
    """A change ticket as change review needs it."""

    id: str
    title: str
    approved: bool
    approval: str  # the provider's word: "approved", "requested", "rejected"…
    state: str  # the provider's word: "Implement", "scheduled"…
    in_state_to_run: bool  # the state allows the work to be carried out
    start: dt.datetime | None
    end: dt.datetime | None
    url: str = ""


class TicketProvider(Protocol):
    """What /ticket, hooks and change review need from a ticket system."""

    name: str

    async def create(self, ticket: NewTicket) -> Ticket: ...

    async def get(self, ticket_id: str) -> Ticket: ...

    async def comment(self, ticket_id: str, text: str, *, author: str = "") -> None: ...

    async def close(self, ticket_id: str, *, resolution: str = "", author: str = "") -> Ticket: ...


class ChangeProvider(Protocol):
    async def get_change(self, change_id: str) -> Change: ...


def check_priority(priority: str) -> str:
    value = priority.lower()
    if value not in PRIORITIES:
        raise TicketError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    return value
