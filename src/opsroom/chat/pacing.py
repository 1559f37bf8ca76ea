"""Per-channel pacing for outgoing chat messages.

Chat platforms limit how fast one channel may be posted to (Slack: about one message a
second per channel). A burst — a hundred run completions, an alert storm — must neither trip
that limit nor lose messages, so every post to a channel waits for its turn: FIFO per
channel, at least ``interval`` seconds apart, channels independent of each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")


class _Lane:
    __slots__ = ("lock", "last", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order
        self.last = float("-inf")
        self.users = 0


class ChannelPacer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lanes: dict[str, _Lane] = {}
        # Cluster mode (cluster/pace.py): the slot is taken from a database row shared by the
        # replicas; called with (channel, interval), it returns the seconds to wait.
        self.shared: Callable[[str, float], float] | None = None

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        """Hold the channel's turn for one API call; the next call starts ``interval``
        seconds after this one started at the earliest."""
        lane = self._lanes.get(channel)
        if lane is None:
            lane = self._lanes[channel] = _Lane()
        lane.users += 1
        try:
            async with lane.lock:
                if self.shared is not None and self.interval > 0:
                    # a database round trip: off the event loop, so other channels go on
                    wait = await asyncio.to_thread(self.shared, channel, self.interval)
                else:
                    wait = lane.last + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                lane.last = time.monotonic()
                yield
        finally:
            lane.users -= 1
            # Forget idle lanes that are past their spacing so memory stays bounded.
            if lane.users == 0 and time.monotonic() - lane.last >= self.interval:
                self._lanes.pop(channel, None)


class Outbox:
    """Posts and edits for one platform, paced per channel.

    Edits of one message that are still waiting for their turn collapse into the latest
    one: a busy run edits its progress message often and only the newest state matters.
    Every caller returns once its content (or a newer one) has been sent; posts are never
    collapsed or dropped.
    """

    def __init__(self, interval: float) -> None:
        self.pacer = ChannelPacer(interval)
        self._pending: dict[tuple[str, str], _PendingEdit] = {}

    async def post(self, channel: str, call: Callable[[], Awaitable[T]]) -> T:
        async with self.pacer.slot(channel):
            return await call()

    async def edit(self, channel: str, message_id: str, payload: P, call: Callable[[P], Awaitable[object]]) -> None:
        key = (channel, message_id)
        waiting = self._pending.get(key)
        if waiting is not None:
            waiting.payload = payload
            await asyncio.shield(waiting.done)
            return
        pending = self._pending[key] = _PendingEdit(payload)
        try:
            async with self.pacer.slot(channel):
                # From here on a newer edit queues afresh instead of joining this one.
                if self._pending.get(key) is pending:
                    del self._pending[key]
                await call(pending.payload)  # type: ignore[arg-type]
        except BaseException as exc:
            if self._pending.get(key) is pending:
                del self._pending[key]
            pending.finish(exc)
            raise
        pending.finish()


class _PendingEdit:
    __slots__ = ("payload", "done")

    def __init__(self, payload: object) -> None:
        self.payload = payload
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finish(self, error: BaseException | None = None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)
            self.done.exception()  # mark retrieved: there may be no joiner to see it
