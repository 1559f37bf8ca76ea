"""What every provider that starts something remotely shares (the CI/CD runners and the
ticket providers): start it at most once, and follow only ours.

The request that starts a deployment (a dispatch, a build, a pipeline, a sync) is not safe to
send twice. When its answer is a 5xx or never comes, the vendor may have acted anyway — a
proxy answered 502 after Jenkins had queued the build — so the HTTP client raises
``MayHaveActed`` instead of retrying, and ``start_once`` asks the vendor what it started
(the runner's ``find``: queue items and builds, the run list, the pipeline list, the
application's operation) until it shows up or ``find_timeout`` passes. It never triggers again.

Which job is ours: a *correlation id* (``opsroom-run-<run id>``) travels with the request
wherever the vendor lets it — a workflow input shown in the run name, a pipeline variable, a
build parameter, a sync ``info`` — so the lookup can match exactly. Without one, a runner
matches on what it knows (created after our snapshot, same ref, same parameters) and, when
more than one job fits, says so rather than guessing: following or cancelling a colleague's
deployment is worse than following none.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from opsroom.core import RunContext
from opsroom.errors import IntegrationError
from opsroom.integrations.http import MayHaveActed
from opsroom.integrations.remote import poll_sleep

T = TypeVar("T")

#: The option every CI/CD runner accepts for how long to look for a job it may have started.
FIND_TIMEOUT_OPTION = "find_timeout"


def correlation_id(ctx: RunContext) -> str:
    """The id that marks the remote job as started by this opsroom run."""
    return f"opsroom-run-{ctx.run_id}"


@dataclass(frozen=True)
class Started(Generic[T]):
    """What ``start`` (or the lookup after an unclear answer) gave back. ``recovered`` holds
    the unclear answer's message when the job was found by looking it up."""

    handle: T
    recovered: str = ""


class Ambiguous(IntegrationError):
    """More than one remote job fits and nothing tells them apart."""


def pick_one(candidates: Sequence[T], what: str, describe: Callable[[T], str], hint: str) -> T | None:
    """The only candidate, None when there is none yet, Ambiguous when there are several."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    shown = ", ".join(describe(c) for c in candidates[:5])
    raise Ambiguous(
        f"{len(candidates)} {what} started at the same time ({shown}); opsroom cannot tell "
        f"which one is its own, so it follows none. {hint}"
    )


async def poll_until_found(
    find: Callable[[], Awaitable[T | None]], *, timeout: float, interval: float, missing: str
) -> T:
    """Call ``find`` until it returns something; after ``timeout`` seconds raise ``missing``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await find()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise IntegrationError(missing)
        await poll_sleep(interval)


async def start_once(
    start: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float,
    where: str,
) -> Started[T]:
    """``start()`` once; if its answer was unclear, ``find()`` what it started instead of
    starting again. ``where`` tells a person where to look when nothing turns up."""
    try:
        return Started(await start())
    except MayHaveActed as unclear:
        reason = str(unclear)
        handle = await poll_until_found(
            find,
            timeout=timeout,
            interval=interval,
            missing=(
                f"{reason}; opsroom looked for it for {timeout:g}s, found nothing, and did not "
                f"start it again: check {where}"
            ),
        )
        return Started(handle, recovered=reason)
