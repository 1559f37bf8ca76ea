"""Plumbing shared by runners that start a job somewhere else and follow it.

A remote job outlives the coroutine that started it: when opsroom gives up on a run (the user
typed ``/cancel``, the command's timeout fired, the bot is shutting down) the runner must
stop the job it started, or a deployment carries on that nobody is watching.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

#: How long a remote cancel may take before we stop waiting for it.
CANCEL_TIMEOUT = 15.0


async def cancel_remote(what: str, cancel: Callable[[], Awaitable[object]], *, timeout: float = CANCEL_TIMEOUT) -> None:
    """Run ``cancel()`` while our own task is being cancelled or the iterator closed.

    The call is shielded, so a second cancellation (an impatient engine) does not abort the
    request half-way; it is bounded, so a dead API cannot hold the run open. Failures are
    logged, not raised: the CancelledError being handled is what the caller must see.
    """
    task = asyncio.ensure_future(cancel())
    try:
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can drop a cancellation
            await asyncio.shield(task)
    except asyncio.CancelledError:
        log.warning("cancel of %s interrupted; the request carries on in the background", what)
        raise
    except Exception as exc:  # noqa: BLE001 — report and go on with the cancellation
        log.warning("could not cancel %s: %s", what, exc)


async def poll_sleep(seconds: float) -> None:
    """The pause between two polls (a function so the reason is named where it is used)."""
    await asyncio.sleep(seconds)
