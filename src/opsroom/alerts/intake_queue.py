"""Group commit for webhook payloads: those that arrive while the alert thread is busy are
stored together, in one transaction with one commit, when it is free again.

A payload's caller is answered only after the commit that holds its alerts, as before; what
changes is that four senders' payloads cost one commit (and one write of each page they
share: a group's row, an index page) instead of four. Each payload is stored exactly as it
would be on its own (``ingest.store_batches``), in arrival order. If the shared transaction
fails, each payload is stored again in a transaction of its own, so one bad payload fails
alone.

Webhook bodies are decoded on the parse thread, which hands each decoded payload straight to
this queue (``decode_and_store``): the alert thread can start on it at once, without a turn
of the event loop in between, and the caller is woken once, by its commit (or by the decode's
own answer when there is nothing to store).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any, Callable, Sequence

from opsroom.alerts.context import AlertContext
from opsroom.alerts.ingest import IngestResult, store_batch, store_batches
from opsroom.alerts.model import Alert
from opsroom.errors import InternalError

_Waiting = tuple[str, Sequence[Alert], dt.datetime, "asyncio.Future[Any]"]


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # the caller went away (its request was cancelled)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _answer(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], outcome: Any) -> None:
    """Settle ``future`` on its loop from another thread (a closed loop has nobody waiting)."""
    try:
        loop.call_soon_threadsafe(_settle, future, outcome)
    except RuntimeError:
        pass


def _settle_all(settled: list[tuple[asyncio.Future[Any], IngestResult | BaseException]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


class IntakeQueue:
    def __init__(self, ctx: AlertContext) -> None:
        self.ctx = ctx
        self._waiting: list[_Waiting] = []
        self._lock = threading.Lock()
        self._scheduled = False  # a drain is queued on the alert thread and has not yet taken the list

    async def store(self, source: str, batch: Sequence[Alert], now: dt.datetime) -> IngestResult:
        ctx = self.ctx
        if ctx.executor is None:  # in-memory SQLite: no alert thread, nothing to gather
            return store_batch(ctx, source, batch, now)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult] = loop.create_future()
        self._put(source, batch, now, future, loop)
        return await future

    async def decode_and_store(
        self, source: str, decode: Callable[[], Sequence[Alert] | None], now: dt.datetime
    ) -> IngestResult | None:
        """``decode()`` on the parse thread, its batch stored as ``store`` does; None, with
        nothing stored, when ``decode`` gives None. The parse thread queues the batch itself,
        so it reaches the alert thread without waiting for the event loop (which may be busy
        answering other requests), and the loop wakes once per payload instead of twice.
        What ``decode`` raises is raised here, and nothing is stored."""
        ctx = self.ctx
        if ctx.parse_executor is None or ctx.executor is None:  # in-memory SQLite: all on the loop
            batch = decode()
            return None if batch is None else await self.store(source, batch, now)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult | None] = loop.create_future()
        ctx.parse_executor.submit(self._decode_then_put, source, decode, now, future, loop)
        return await future

    def _decode_then_put(
        self,
        source: str,
        decode: Callable[[], Sequence[Alert] | None],
        now: dt.datetime,
        future: asyncio.Future[IngestResult | None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """On the parse thread. Every way out settles ``future``: its caller never hangs."""
        try:
            batch = decode()
            if batch is None:
                _answer(loop, future, None)
            elif not future.done():  # a caller that went away before this is not stored (as before)
                self._put(source, batch, now, future, loop)  # the drain settles it
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, who raises it)
            _answer(loop, future, exc)

    def _put(
        self,
        source: str,
        batch: Sequence[Alert],
        now: dt.datetime,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Queue a payload for the alert thread (from any thread); its drain settles ``future``."""
        executor = self.ctx.executor
        if executor is None:
            raise InternalError("no alert thread to queue a payload for")
        entry = (source, batch, now, future)
        with self._lock:
            self._waiting.append(entry)
            # A drain already queued takes this payload too: submitting one per payload woke
            # the alert thread (and took the GIL) once more for each, to find nothing.
            submit, self._scheduled = not self._scheduled, True
        if submit:
            try:
                executor.submit(self._drain, loop)
            except BaseException:  # shut down: no drain is coming; the next caller tries again
                with self._lock:
                    self._scheduled = False
                    # Not stored: taken back, so no later drain stores what its caller was told failed.
                    self._waiting = [w for w in self._waiting if w is not entry]
                raise

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the alert thread: store everything waiting, then answer each caller."""
        with self._lock:
            waiting, self._waiting, self._scheduled = self._waiting, [], False
        if not waiting:
            return
        outcomes: list[IngestResult | BaseException] = []
        try:
            outcomes.extend(store_batches(self.ctx, [(s, b, n) for s, b, n, _ in waiting]))
        except Exception as exc:
            if len(waiting) == 1:
                outcomes = [exc]
            else:  # which one failed? each again on its own
                outcomes = []
                for source, batch, now, _ in waiting:
                    try:
                        outcomes.append(store_batch(self.ctx, source, batch, now))
                    except Exception as alone:  # this payload's own failure, for its caller
                        outcomes.append(alone)
        # All callers answered by one callback: each ``call_soon_threadsafe`` writes to the
        # loop's wake-up socket, and taking the GIL back after that write made the alert
        # thread wait on the loop and the parse thread once per payload (py-spy: as long
        # as the commit itself).
        settled = [(future, outcome) for (_, _, _, future), outcome in zip(waiting, outcomes, strict=True)]
        loop.call_soon_threadsafe(_settle_all, settled)
