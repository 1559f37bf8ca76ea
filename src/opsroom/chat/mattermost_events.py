"""Mattermost's event socket: ``posted`` events turned into ``MessageEvent``s, and the posts
typed while the socket was down fetched again once it is back.

Why the catch-up: the WebSocket only delivers what happens while it is open. A proxy restart
or a network blip would silently lose every command typed meanwhile. After each reconnect we
ask, for every channel we have seen a post in, for the posts created since the last one we
saw (``GET /channels/{id}/posts?since=…``), oldest first, bounded per channel, and hand them
through the same filter as live events; delivery ids are the post ids, so nothing is handled
twice.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opsroom.core import MessageEvent, Place

log = logging.getLogger("opsroom.chat.mattermost")

CATCH_UP_CHANNELS = 100  # channels remembered for a catch-up (the most recently active)
CATCH_UP_POSTS = 100  # posts fetched again per channel at most

Call = Callable[..., Awaitable[Any]]


def ws_url(base: str) -> str:
    parts = urllib.parse.urlsplit(base.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "/api/v4/websocket", "", ""))


@dataclass(frozen=True)
class Bot:
    user_id: str
    username: str
    channels: tuple[str, ...]  # channel ids whose plain posts are read; () = all


def message_event(data: dict[str, Any], bot: Bot) -> MessageEvent | None:
    """The ``MessageEvent`` of a ``posted`` event's data, or None when it is not for us
    (our own posts, system, bot and webhook posts, channels we do not read)."""
    try:
        post = json.loads(data.get("post") or "{}")
    except ValueError:
        return None
    user = post.get("user_id", "")
    props = post.get("props") or {}
    if (
        not user
        or user == bot.user_id
        or post.get("type")  # system posts have a type
        or props.get("from_bot") == "true"
        or props.get("from_webhook") == "true"
    ):
        return None
    try:
        mentioned = bot.user_id in json.loads(data.get("mentions") or "[]")
    except ValueError:
        mentioned = False
    text = post.get("message", "")
    is_direct = data.get("channel_type", "") == "D"
    if mentioned and bot.username:
        text = re.sub(rf"@{re.escape(bot.username)}\b", " ", text)
    elif not is_direct and bot.channels and post.get("channel_id") not in bot.channels:
        return None
    place = Place(
        "mattermost",
        post.get("channel_id", ""),
        post.get("root_id") or None,
        is_direct,
        "" if is_direct or not data.get("channel_name") else "#" + data["channel_name"],
    )
    return MessageEvent(
        place=place,
        sender_id=user,
        text=" ".join(text.split()) if mentioned else text.strip(),
        message_id=post.get("id"),
        addressed=is_direct or mentioned,
        event_id=f"mattermost:post:{post.get('id')}",
        sender_name=str(data.get("sender_name", "")).lstrip("@"),
    )


class CatchUp:
    """The newest ``create_at`` seen per channel, and the fetch of what came after it."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, int] = OrderedDict()

    def saw(self, data: dict[str, Any]) -> None:
        try:
            post = json.loads(data.get("post") or "{}")
        except ValueError:
            return
        channel, created = post.get("channel_id"), post.get("create_at")
        if not channel or not isinstance(created, int):
            return
        self._last[channel] = max(created, self._last.get(channel, 0))
        self._last.move_to_end(channel)
        if len(self._last) > CATCH_UP_CHANNELS:
            self._last.popitem(last=False)

    def seed(self, channels: list[str], since_ms: int) -> None:
        """Catch up on these channels from ``since_ms`` too (a replica taking the socket over
        from another, which has seen nothing yet)."""
        for channel in channels:
            self._last[channel] = max(since_ms, self._last.get(channel, 0))

    async def missed(self, call: Call, bot: Bot) -> list[dict[str, Any]]:
        """``posted``-shaped data for every post created after the last one seen, per channel,
        oldest first. A channel that cannot be read is skipped (and logged)."""
        found: list[dict[str, Any]] = []
        for channel, last in list(self._last.items()):
            try:
                page = await call("GET", f"/channels/{urllib.parse.quote(channel, safe='')}/posts?since={last}")
                info = await call("GET", f"/channels/{urllib.parse.quote(channel, safe='')}")
            except Exception as exc:  # noqa: BLE001 - one channel's trouble must not stop the rest
                log.warning("mattermost: catching up on %s failed: %s", channel, exc)
                continue
            posts = [
                p
                for p in (page.get("posts") or {}).values()
                if isinstance(p, dict) and p.get("create_at", 0) > last and not p.get("delete_at")
            ]
            posts.sort(key=lambda p: p["create_at"])
            if len(posts) > CATCH_UP_POSTS:
                log.warning(
                    "mattermost: %d posts missed in %s; handling the last %d", len(posts), channel, CATCH_UP_POSTS
                )
                posts = posts[-CATCH_UP_POSTS:]
            for post in posts:
                mentioned = bool(bot.username) and re.search(rf"@{re.escape(bot.username)}\b", post.get("message", ""))
                found.append(
                    {
                        "post": json.dumps(post),
                        "channel_type": info.get("type", ""),
                        "channel_name": info.get("name", ""),
                        "mentions": json.dumps([bot.user_id] if mentioned else []),
                    }
                )
        return found
