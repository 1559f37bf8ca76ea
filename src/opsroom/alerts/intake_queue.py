"""Group commit for webhook payloads: those that arrive while the alert thread is busy are
stored together, in one transaction with one commit, when it is free again.

A payload's caller is answered only after the commit that holds its alerts, as before; what
changes is that four senders' payloads cost one commit (and one write of each page they
share: a group's row, an index page) instead of four. Each payload is stored exactly as it
would be on its own (``ingest.store_batches``), in arrival order. If the shared transaction
fails, each payload is stored again in a transaction of its own, so one bad payload fails
alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Sequence

from opsroom.alerts.context import AlertContext
from opsroom.alerts.ingest import IngestResult, store_batch, store_batches
from opsroom.alerts.model import Alert

_Waiting = tuple[str, Sequence[Alert], dt.datetime, "asyncio.Future[IngestResult]"]


def _settle(future: asyncio.Future[IngestResult], result: IngestResult | BaseException) -> None:
    if future.done():  # the caller went away (its request was cancelled)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _settle_all(settled: list[tuple[asyncio.Future[IngestResult], IngestResult | BaseException]]) -> None:
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
        with self._lock:
            self._waiting.append((source, batch, now, future))
            # A drain already queued takes this payload too: submitting one per payload woke
            # the alert thread (and took the GIL) once more for each, to find nothing.
            submit, self._scheduled = not self._scheduled, True
        if submit:
            try:
                ctx.executor.submit(self._drain, loop)
            except BaseException:  # shut down: no drain is coming; the next caller tries again
                with self._lock:
                    self._scheduled = False
                raise
        return await future

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
