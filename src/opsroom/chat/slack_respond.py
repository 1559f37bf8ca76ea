"""Answering through a slash command's or a button click's ``response_url`` (Bolt's ``respond``).

Why: ``chat.postMessage`` only works where the bot is a member. A slash command can be typed
anywhere — a private channel or a DM between two people the bot was never added to — and
Slack then hands us a ``response_url`` that can post into that very conversation, either to
the person only (``ephemeral``) or to everyone (``in_channel``), without any membership, up
to five times within thirty minutes. A click carries one too; it is also the only reliable
way to show a refusal to the clicker (an ephemeral sent into a thread that does not exist yet
is never shown).

While the adapter hands one command or click to the engine, ``CURRENT`` holds its responder,
so every answer the engine produces for it — also from tasks started meanwhile, which copy
the context — can go back the way the person came in.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from opsroom.errors import IntegrationError

log = logging.getLogger(__name__)

# Slack: "up to 5 times within 30 minutes"; a minute of margin for clock and queue delays.
MAX_RESPONSES = 5
WINDOW_SECONDS = 29 * 60
REMEMBERED = 2_000


class ResponseUrlError(IntegrationError):
    """Slack refused a ``response_url`` post (expired, used up, or malformed)."""


@dataclass
class Responder:
    """One inbound command or click, and the way back to whoever sent it."""

    respond: Any  # slack_bolt AsyncRespond bound to the request's response_url
    channel: str
    user: str
    created: float = field(default_factory=time.monotonic)
    used: int = 0

    def usable(self) -> bool:
        return (
            self.respond is not None
            and getattr(self.respond, "response_url", None) is not None
            and self.used < MAX_RESPONSES
            and time.monotonic() - self.created < WINDOW_SECONDS
        )

    async def send(self, payload: dict[str, Any], response_type: Literal["ephemeral", "in_channel"]) -> None:
        self.used += 1
        resp = await self.respond(
            text=payload.get("text", ""),
            blocks=payload.get("blocks"),
            response_type=response_type,
            replace_original=False,  # never overwrite the message that was clicked
        )
        if resp.status_code >= 400:
            raise ResponseUrlError(f"response_url answered {resp.status_code}: {resp.body[:100]}")


CURRENT: ContextVar[Responder | None] = ContextVar("opsroom_slack_responder", default=None)


class RespondedMessages:
    """Messages posted through a ``response_url`` cannot be edited with ``chat.update``; their
    updates go through the same responder. Bounded: old ones are forgotten."""

    def __init__(self) -> None:
        self._by_key: OrderedDict[str, Responder] = OrderedDict()
        self._next = 0

    def remember(self, responder: Responder) -> str:
        self._next += 1
        key = str(self._next)
        self._by_key[key] = responder
        if len(self._by_key) > REMEMBERED:
            self._by_key.popitem(last=False)
        return key

    def get(self, key: str) -> Responder | None:
        return self._by_key.get(key)

    def latest_for(self, channel: str) -> Responder | None:
        """The newest still usable responder of ``channel``: how a run that starts later
        (queued, or approved by a click elsewhere) still reaches a channel the bot is not in.
        Only for messages everyone there may see — never for private answers."""
        for responder in reversed(self._by_key.values()):
            if responder.channel == channel and responder.usable():
                return responder
        return None


class KnownThreads:
    """Thread roots known to have replies. Slack shows an ephemeral message inside a thread
    only when that thread already exists; otherwise it is accepted and never shown."""

    def __init__(self) -> None:
        self._ts: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add(self, channel: str, thread_ts: str | None) -> None:
        if not thread_ts:
            return
        self._ts[(channel, thread_ts)] = None
        if len(self._ts) > REMEMBERED:
            self._ts.popitem(last=False)

    def __contains__(self, key: tuple[str, str | None]) -> bool:
        return key in self._ts
