"""Messages typed while the Socket Mode socket was down, fetched again once it is back.

Why: Socket Mode delivers events only while a socket is open. Slack retries an
unacknowledged envelope a few times, but a longer network blip, a proxy restart or Slack's
own connection refresh can lose a ``!command`` or an ``@opsroom`` typed meanwhile. As the
Mattermost adapter does after its WebSocket reconnects (``mattermost_events.CatchUp``), we
remember the newest message seen per channel; after every reconnect we ask
``conversations.history`` for what came after it (``oldest`` = that ts, exclusive), at most
``catch_up_messages`` per channel, oldest first, and hand each through the same filter as a
live ``message`` event. A message's delivery id is its channel and ts
(``slack:msg:<channel>:<ts>``), so one that also arrives live — or that Slack redelivers
late — is handled once (the in-process ``SeenSet``, then the engine's ``processed_events``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError

from opsroom.chat.slack.workspaces import NotInstalled, Workspaces

log = logging.getLogger("opsroom.chat.slack")

CATCH_UP_CHANNELS = 100  # channels remembered (the most recently active)
PAGE = 200  # conversations.history's recommended page size


class CatchUp:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._last: OrderedDict[tuple[str, str], str] = OrderedDict()  # (team, channel) -> newest ts

    def saw(self, team: str, event: dict[str, Any]) -> None:
        channel, ts = event.get("channel"), event.get("ts")
        if not channel or not isinstance(ts, str):
            return
        key = (team, channel)
        if key not in self._last or float(ts) > float(self._last[key]):
            self._last[key] = ts
        self._last.move_to_end(key)
        if len(self._last) > CATCH_UP_CHANNELS:
            self._last.popitem(last=False)

    async def missed(self, workspaces: Workspaces) -> list[tuple[str, dict[str, Any]]]:
        """(team, message event) for every message after the newest one seen, per channel,
        oldest first. A channel that cannot be read is skipped (and logged)."""
        found: list[tuple[str, dict[str, Any]]] = []
        if self.limit <= 0:  # catch_up_messages: 0 turns the catch-up off
            return found
        for (team, channel), last in list(self._last.items()):
            try:
                messages = await self._history(workspaces, team, channel, last)
            except (SlackApiError, NotInstalled) as exc:
                log.warning("slack: catching up on %s failed: %s", channel, exc)
                continue
            if len(messages) > self.limit:
                log.warning("slack: %d messages missed in %s; handling the last %d", len(messages), channel, self.limit)
                messages = messages[-self.limit :]
            for message in messages:
                kind = "im" if channel.startswith("D") else "channel"
                found.append((team, {**message, "channel": channel, "channel_type": kind}))
        return found

    async def _history(self, workspaces: Workspaces, team: str, channel: str, oldest: str) -> list[dict[str, Any]]:
        client = (await workspaces.get(team)).client
        messages: list[dict[str, Any]] = []
        cursor = None
        # Newest first, page by page; a few more than the limit tell that some were dropped.
        while len(messages) <= self.limit:
            page = await client.conversations_history(
                channel=channel, oldest=oldest, limit=PAGE, cursor=cursor, inclusive=False
            )
            messages += [m for m in page.get("messages") or [] if isinstance(m, dict) and m.get("ts")]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        messages = [m for m in messages if float(m["ts"]) > float(oldest)]
        messages.sort(key=lambda m: float(m["ts"]))
        return messages
