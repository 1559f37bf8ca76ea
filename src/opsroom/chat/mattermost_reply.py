"""Answering the way a Mattermost command or click came in, without extra permissions.

Why: a bot account with the Member role (as the setup docs advise) may not create ephemeral
posts (``POST /posts/ephemeral`` needs ``create_post_ephemeral``, a system-admin permission),
and may not post into a private channel or a DM it is not a member of. But:

- a click's HTTP response may carry ``ephemeral_text``: Mattermost shows it to the clicker
  only, with no permission needed. We wait a moment for the engine's answer so a refusal can
  ride on it;
- a slash command comes with a ``response_url`` (``{SiteURL}/hooks/commands/{id}``, valid
  30 minutes, five uses) that posts into the very conversation — and thread — it was typed
  in, ephemeral or in the channel, whoever is a member.

While the adapter hands one command or click to the engine, ``CURRENT`` holds its reply
channel; tasks started meanwhile copy it.
"""

from __future__ import annotations

import time
import urllib.parse
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

MAX_RESPONSES = 5  # Mattermost: CommandWebhooks.TryUse(id, 5)
WINDOW_SECONDS = 29 * 60  # CommandWebhookLifetime is 30 minutes; a minute of margin
REMEMBERED = 2_000


@dataclass
class ClickReply:
    """Texts for the clicker, returned as the click's ``ephemeral_text`` while it is open."""

    channel: str
    user: str
    texts: list[str] = field(default_factory=list)
    open: bool = True


@dataclass
class CommandReply:
    """A slash command's ``response_url``."""

    channel: str
    user: str
    response_url: str
    http: httpx.AsyncClient
    created: float = field(default_factory=time.monotonic)
    used: int = 0

    def usable(self) -> bool:
        return (
            bool(self.response_url) and self.used < MAX_RESPONSES and (time.monotonic() - self.created < WINDOW_SECONDS)
        )

    async def send(self, payload: dict[str, Any], response_type: Literal["ephemeral", "in_channel"]) -> None:
        self.used += 1
        body = {
            "response_type": response_type,
            "text": payload.get("message", ""),
            "props": payload.get("props") or {},
        }
        resp = await self.http.post(self.response_url, json=body)
        resp.raise_for_status()


Reply = ClickReply | CommandReply
CURRENT: ContextVar[Reply | None] = ContextVar("opsroom_mattermost_reply", default=None)


def trusted_response_url(url: str, server_url: str) -> str:
    """``url`` when it points at our Mattermost server's ``/hooks/commands/``; else "".
    The command token already proves the request came from Mattermost; this keeps a
    leaked token from turning opsroom into a client for arbitrary URLs."""
    got, ours = urllib.parse.urlsplit(url), urllib.parse.urlsplit(server_url)
    if (got.scheme, got.netloc) != (ours.scheme, ours.netloc):
        return ""
    if not got.path.startswith(ours.path.rstrip("/") + "/hooks/commands/"):
        return ""
    return url


class RepliedPosts:
    """Posts that went out through a response_url cannot be patched; their news goes the
    same way. Bounded."""

    def __init__(self) -> None:
        self._by_key: OrderedDict[str, CommandReply] = OrderedDict()
        self._next = 0

    def remember(self, reply: CommandReply) -> str:
        self._next += 1
        self._by_key[str(self._next)] = reply
        if len(self._by_key) > REMEMBERED:
            self._by_key.popitem(last=False)
        return str(self._next)

    def get(self, key: str) -> CommandReply | None:
        return self._by_key.get(key)

    def latest_for(self, channel: str) -> CommandReply | None:
        """The newest still usable command response_url of ``channel``: how a run approved
        by a click, in a channel the bot is not in, still reaches that channel."""
        for reply in reversed(self._by_key.values()):
            if reply.channel == channel and reply.usable():
                return reply
        return None
