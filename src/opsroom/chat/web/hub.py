"""Live delivery to browsers: every open WebSocket subscribes to the channels its user may
see; a new or edited message is encoded once and queued to each subscriber.

A subscriber that does not keep up (its queue is full) is dropped rather than slowing
everyone else down; the browser reconnects and catches up from its last message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

QUEUE_SIZE = 500


# Close codes a subscriber's writer sends when it stops (``Subscriber.close_code``).
TOO_SLOW = 1013  # "try again later": the browser reconnects and catches up from its last id
GOING_AWAY = 1001  # the server is stopping
CLIENT_GONE = 0  # the browser closed the socket: nothing to send


class Subscriber:
    """One open WebSocket: its queue of encoded frames, and why it must stop, once it must.

    The socket's writer awaits ``queue.get()`` and checks ``close_code`` after each wake-up;
    whatever stops a subscriber also queues an empty frame (if there is room) so a writer
    waiting on an empty queue wakes up.
    """

    def __init__(self, user: str, channels: set[str]) -> None:
        self.user = user
        self.channels = set(channels)
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.close_code: int | None = None

    @property
    def dropped(self) -> bool:
        return self.close_code is not None

    def offer(self, data: str) -> None:
        if self.close_code is not None:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.stop(TOO_SLOW)  # the queue is full, so the writer is not waiting: no wake-up needed

    def stop(self, code: int) -> None:
        """Make the writer close the socket with ``code`` (``CLIENT_GONE``: just stop) instead
        of sending what is still queued."""
        if self.close_code is not None:
            return
        self.close_code = code
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait("")


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

    def watching(self, channel: str) -> bool:
        """Whether any socket here shows ``channel`` (cluster fan-out skips the others)."""
        return channel in self._by_channel

    def close_all(self) -> None:
        for subs in list(self._by_channel.values()):
            for sub in list(subs):
                sub.stop(GOING_AWAY)

    def count(self) -> int:
        return len({s for subs in self._by_channel.values() for s in subs})
