"""Telling the people who can approve a held run.

The request names them (``Message.mentions``: every adapter renders mentions its own way),
and each gets a direct message where the platform can send one: an adapter offers
``direct_place(principal) -> Place | None`` for that (the web chat does). The same logic
serves every adapter; an adapter without direct messages just gets the mentions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

import structlog

from opsroom.core import Actions, Block, Button, Context, Invocation, Message, MessageRef, Place, Principal, Section
from opsroom.guardrails import approvals as book

if TYPE_CHECKING:
    from opsroom.chat.base import ChatHub

log = structlog.get_logger("opsroom.guardrails")
MAX_TOLD = 20  # a role with hundreds of members is told by the channel, not by DMs to each


def eligible_approvers(directory: Iterable[Principal], hold: book.Hold, requester: Principal | None) -> list[Principal]:
    """Configured people whose vote would count on this request (the same rule as a vote)."""
    return [
        p
        for p in directory
        if p.name != hold.requester and any(book.can_approve(p, req, requester) for req in hold.approvals)
    ][:MAX_TOLD]


def request_link(ref: MessageRef, public_url: str) -> str:
    """A link that opens the request: the web chat's permalink (relative without a public
    URL: the DM is read in the same web chat), the console's Approvals page elsewhere."""
    base = public_url.rstrip("/")
    if ref.place.platform == "web":
        root = ref.place.thread or ref.message_id
        return f"{base}/chat/{quote(ref.place.channel, safe='')}?thread={root}#m{ref.message_id}"
    return f"{base}/console/approvals" if base else ""


def direct_message(inv: Invocation, run_id: int, link: str) -> Message:
    where = "a direct message" if inv.place.is_direct else inv.place.name
    blocks: list[Block] = [
        Section(f"🗳️ {inv.principal.label} asks for your approval: run #{run_id} `{inv.canonical()}` in {where}."),
        Context("approve or deny it there, or on the Approvals page · `approvals` lists what waits for you"),
    ]
    if link:
        blocks.append(Actions((Button("Open the request", "", url=link),)))
    return Message(f"{inv.principal.label} asks for your approval of run #{run_id}", tuple(blocks), "warning")


async def tell_approvers(chat: ChatHub, place: Place, approvers: Iterable[Principal], message: Message) -> int:
    """A direct message to each approver the platform can reach; returns how many were told.
    A failed DM is logged and skipped: the request in the channel still stands."""
    try:
        adapter = chat.get(place.platform)
    except LookupError:  # no adapter for the platform (a console run): nobody to DM
        return 0
    direct = getattr(adapter, "direct_place", None)
    if direct is None:
        return 0
    told = 0
    for person in approvers:
        target = direct(person)
        if target is None:
            continue
        try:
            await chat.send(target, Message(message.text, message.blocks, message.tone, (person,)))
            told += 1
        except Exception:
            log.exception("approver_dm_failed", approver=person.name)
    return told
