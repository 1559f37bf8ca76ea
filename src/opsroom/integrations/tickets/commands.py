"""The ``/ticket`` built-in command:

    /ticket                               open tickets (newest first)
    /ticket open "disk full on web1" --priority p2
    /ticket 17                            one ticket with its comments
    /ticket comment 17 freed 20 GB, watching it
    /ticket close 17 fixed by rotating logs

One CommandSpec (``ticket``) with a verb-or-number and the rest of the line, so it goes
through the same parser and policy as every other command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opsroom.core import (
    ArgSpec,
    ArgType,
    CommandSpec,
    Context,
    Fields,
    Invocation,
    Message,
    Section,
)
from opsroom.errors import IntegrationError
from opsroom.integrations.tickets.base import PRIORITIES, NewTicket, Ticket, TicketError
from opsroom.integrations.tickets.desk import TicketDesk
from opsroom.integrations.tickets.origins import provider_words

Handler = Callable[[Any, Invocation], Awaitable[Message]]

TICKET_SPEC = CommandSpec(
    "ticket",
    summary="Open, show, comment on and close tickets",
    description='`ticket` lists open tickets; `ticket open "title" --priority p2`; `ticket 17`; '
    "`ticket comment 17 text…`; `ticket close 17 [resolution…]`.",
    args=(
        ArgSpec(
            "action",
            required=False,
            pattern=r"open|comment|close|[A-Za-z]{0,10}-?[0-9]{1,12}",
            max_length=24,
            help="open, comment, close, or a ticket number",
        ),
        ArgSpec(
            "target",
            required=False,
            max_length=200,
            help="the title (open), or the ticket number (comment, close)",
        ),
        ArgSpec(
            "text",
            required=False,
            greedy=True,
            max_length=1900,
            help="the comment (comment), the resolution (close), or more of the title (open)",
        ),
        ArgSpec(
            "priority",
            ArgType.ENUM,
            required=False,
            default="p3",
            values=PRIORITIES,
            positional=False,
            help="priority of a new ticket",
        ),
        ArgSpec(
            "provider",
            required=False,
            positional=False,
            pattern=r"[A-Za-z0-9_.-]{1,50}",
            help="ticket system (default: tickets.default)",
        ),
    ),
    examples=(
        'ticket open "disk full on web1" --priority p2',
        "ticket 17",
        "ticket comment 17 freed 20 GB",
        "ticket close 17 fixed",
    ),
    builtin=True,
)

TICKET_SPECS: tuple[CommandSpec, ...] = (TICKET_SPEC,)


def thread_link(inv: Invocation) -> str:
    """Where the command was typed, in words people read: the web chat's thread address
    (shown as a link "in #ops"), else "the thread in #ops" / "#ops" — never platform ids."""
    place = inv.place
    if place.platform == "web" and place.thread and place.thread.isdigit():
        return f"/chat/{place.channel}?thread={place.thread}"
    return f"the thread in {place.name}" if place.thread else place.name


def _target(target: str, verb: str) -> str:
    if not target.strip():
        raise TicketError(f"which ticket? e.g. `ticket {verb} 17 …`")
    return target.strip().lstrip("#")


def render_ticket(ticket: Ticket) -> Message:
    title = f"<{ticket.url}|{ticket.ref}>" if ticket.url else ticket.ref
    blocks: list[Any] = [
        Section(f"*{title}* {ticket.title}"),
        Fields(
            (
                ("status", ticket.status),
                ("priority", ticket.priority or "-"),
                ("opened by", ticket.author or "-"),
                ("thread", ticket.thread_link or "-"),
            )
        ),
    ]
    if ticket.body:
        blocks.append(Section(ticket.body[:1500]))
    for comment in ticket.comments[-5:]:
        blocks.append(Context(f"{comment.author}: {comment.body[:500]}"))
    return Message(
        f"{ticket.ref} {ticket.title} ({ticket.status})",
        tuple(blocks),
        tone="success" if ticket.closed else "info",
    )


def ticket_handlers(desk: TicketDesk) -> dict[str, Handler]:
    """``{"ticket": handler}`` for ``EngineParts.builtins``; ``handler(engine, invocation)``."""

    async def cmd_ticket(_engine: Any, inv: Invocation) -> Message:
        try:
            return await _dispatch(desk, inv)
        except (TicketError, IntegrationError) as exc:  # a refusal, or a vendor's error
            return Message.plain(str(exc), "warning")

    return {"ticket": cmd_ticket}


async def _dispatch(desk: TicketDesk, inv: Invocation) -> Message:
    action = str(inv.args.get("action") or "")
    target = str(inv.args.get("target") or "")
    text = str(inv.args.get("text") or "")
    provider = desk.get(inv.args.get("provider") or None)
    user = inv.principal.name
    if not action:
        lister = getattr(provider, "list", None)
        if lister is None:
            return Message.plain(
                f"Tickets in {provider_words(provider)} are listed there; show one with `ticket <id>`."
            )
        tickets = await lister()
        if not tickets:
            return Message.plain("No open tickets.")
        lines = [f"{t.ref} [{t.priority}] {t.title} — {t.author}" for t in tickets[:20]]
        return Message(f"{len(tickets)} open ticket(s)", (Section("\n".join(lines)),))
    if action == "open":
        text = " ".join(part for part in (target, text) if part)
        if not text.strip():
            raise TicketError('a ticket needs a title: `ticket open "disk full on web1" --priority p2`')
        ticket = await provider.create(
            NewTicket(
                title=text,
                priority=str(inv.args.get("priority") or "p3"),
                author=user,
                thread_link=thread_link(inv),
                body=f"Opened from chat by {user}.",
                origin="chat",
                channel=inv.place.name,
            )
        )
        where = f" <{ticket.url}|open it>" if ticket.url else ""
        return Message(
            f"Ticket {ticket.ref} opened: {ticket.title}",
            (Section(f"Ticket *{ticket.ref}* opened ({ticket.priority}): {ticket.title}.{where}"),),
            tone="success",
        )
    if action == "comment":
        ticket_id, body = _target(target, "comment"), text
        if not body.strip():
            raise TicketError(f"what should the comment say? `ticket comment {ticket_id} text…`")
        await provider.comment(ticket_id, body, author=user)
        return Message.plain(f"Commented on ticket {_ref(ticket_id)}.", "success")
    if action == "close":
        ticket_id, resolution = _target(target, "close"), text
        ticket = await provider.close(ticket_id, resolution=resolution or f"Closed from chat by {user}.", author=user)
        return Message.plain(f"Ticket {ticket.ref} closed ({ticket.status}).", "success")
    if target or text:
        raise TicketError(f"`ticket {action}` takes nothing more; did you mean `ticket comment {action} …`?")
    return render_ticket(await provider.get(action.lstrip("#")))


def _ref(ticket_id: str) -> str:
    return f"#{ticket_id}" if ticket_id.isdigit() else ticket_id
