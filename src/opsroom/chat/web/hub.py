"""Live delivery to browsers: every open WebSocket subscribes to the channels its user may
see; a new or edited message is encoded once and queued to each subscriber.

A subscriber that does not keep up (its queue is full) is dropped rather than slowing
everyone else down; the browser reconnects and catches up from its last message id.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

QUEUE_SIZE = 500


class Subscriber:
    def __init__(self, user: str, channels: set[str]) -> None:
        self.user = user
        self.channels = set(channels)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = False

    def offer(self, data: str) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped = True
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)  # tells the writer to close the socket


class Hub:
    def __init__(self) -> None:
        self._by_channel: dict[str, set[Subscriber]] = defaultdict(set)

    def subscribe(self, sub: Subscriber) -> None:
        for channel in sub.channels:
            self._by_channel[channel].add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        for channel in sub.channels:
            subs = self._by_channel.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_channel[channel]

    def publish(self, channel: str, payload: dict[str, Any], *, only: str | None = None) -> int:
        """Queue ``payload`` to the channel's subscribers (only user ``only`` for an ephemeral
        message). Returns how many got it."""
        subs = self._by_channel.get(channel)
        if not subs:
            return 0
        data = json.dumps(payload, separators=(",", ":"))
        sent = 0
        for sub in list(subs):
            if only is not None and sub.user != only:
                continue
            sub.offer(data)
            sent += 1
        return sent

    def close_all(self) -> None:
        for subs in list(self._by_channel.values()):
            for sub in list(subs):
                sub.offer("")  # noqa: the writer treats an empty frame as "server going away"
                sub.dropped = True

    def count(self) -> int:
        return len({s for subs in self._by_channel.values() for s in subs})
