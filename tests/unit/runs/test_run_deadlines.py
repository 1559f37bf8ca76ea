"""Run timeouts share one loop timer (RunService._watch): each run still times out at its own
deadline, a cancel still wins, and a run's task ends with the cancel count asyncio.timeout
left (the service's timer replaced one asyncio.timeout per run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from opsroom.core import OutputChunk, RunContext, RunState
from opsroom.runs.service import LiveRun, RunOutcome, RunService


class _Db:
    async def run_write(self, write: Any, **_: Any) -> None:
        """The state moves are not what these tests look at."""


class _Observer:
    def __init__(self) -> None:
        self.outcomes: dict[int, RunOutcome] = {}

    async def run_started(self, run_id: int, live: LiveRun | None = None) -> None:
        return None

    async def run_progress(self, run_id: int, live: LiveRun) -> None:
        return None

    async def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        self.outcomes[run_id] = outcome


class _Runner:
    def __init__(self, body: Callable[[], Awaitable[str]]) -> None:
        self.body = body
        self.cancelling_after: int | None = None

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        yield OutputChunk(await self.body(), exit_code=0)


def _service() -> RunService:
    return RunService(_Db(), audit=None, redact=lambda text: (text, 0))


def _start(service: RunService, observer: _Observer, run_id: int, runner: _Runner, timeout: float) -> LiveRun:
    ctx = RunContext(run_id, "cmd", {}, "alice", "#ops", timeout)
    return service.start(
        run_id, runner, ctx, observer, lock_key=None, output_max_chars=1000, audit_fields={}, reserved=True
    )


def _sleeper(seconds: float) -> _Runner:
    async def body() -> str:
        await asyncio.sleep(seconds)
        return "done"

    return _Runner(body)


async def test_each_run_times_out_at_its_own_deadline_whatever_order_they_start_in() -> None:
    service, observer = _service(), _Observer()
    loop = asyncio.get_running_loop()
    began = loop.time()
    ended: dict[int, float] = {}
    original = observer.run_finished

    async def noting(run_id: int, outcome: RunOutcome) -> None:
        ended[run_id] = loop.time() - began
        await original(run_id, outcome)

    observer.run_finished = noting  # type: ignore[method-assign]
    # A long timeout first, then shorter ones: the shared timer must move earlier.
    _start(service, observer, 1, _sleeper(30), 0.6)
    _start(service, observer, 2, _sleeper(30), 0.05)
    _start(service, observer, 3, _sleeper(0.01), 0.3)  # ends before its deadline
    _start(service, observer, 4, _sleeper(30), 0.2)
    await service.drain()
    states = {run_id: o.state for run_id, o in observer.outcomes.items()}
    assert states == {1: RunState.TIMED_OUT, 2: RunState.TIMED_OUT, 3: RunState.SUCCEEDED, 4: RunState.TIMED_OUT}
    assert observer.outcomes[2].error == "timed out after 0.05s"
    assert observer.outcomes[1].error == "timed out after 0.6s"
    # Never before its deadline (an upper bound would be a timed test).
    assert ended[2] >= 0.05 and ended[4] >= 0.2 and ended[1] >= 0.6
    assert ended[2] < ended[4] < ended[1]


async def test_a_cancel_wins_over_a_timeout_and_shutdown_interrupts() -> None:
    service, observer = _service(), _Observer()
    live = _start(service, observer, 1, _sleeper(30), 0.05)
    _start(service, observer, 2, _sleeper(30), 30)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert service.cancel(1, "bob")
    await asyncio.sleep(0.1)  # past run 1's deadline: its cancel stands
    await service.shutdown()
    assert observer.outcomes[1].state == RunState.CANCELLED and observer.outcomes[1].error == "cancelled by bob"
    assert observer.outcomes[2].state == RunState.INTERRUPTED
    assert live.task is not None and live.task.cancelled() is False
    assert service._wake is None  # noqa: SLF001 - nothing left to time out


async def test_a_runner_that_swallows_the_timeouts_cancel_ends_as_it_says() -> None:
    """asyncio.timeout's rule: no CancelledError out of the block, no TimeoutError."""
    counts: list[int] = []

    async def stubborn() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass
        return "carried on"

    class Noting(_Runner):
        async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
            async for chunk in super().execute(ctx):
                yield chunk
            task = asyncio.current_task()
            assert task is not None
            counts.append(task.cancelling())

    service, observer = _service(), _Observer()
    _start(service, observer, 1, Noting(stubborn), 0.05)
    await service.drain()
    assert observer.outcomes[1].state == RunState.SUCCEEDED
    assert counts == [1]  # the expiry's cancel, taken back when the runner's block ends


async def test_the_task_ends_with_no_cancel_left_after_a_timeout() -> None:
    seen: list[int] = []
    service, observer = _service(), _Observer()
    original = observer.run_finished

    async def noting(run_id: int, outcome: RunOutcome) -> None:
        task = asyncio.current_task()
        assert task is not None
        seen.append(task.cancelling())
        await original(run_id, outcome)

    observer.run_finished = noting  # type: ignore[method-assign]
    _start(service, observer, 1, _sleeper(30), 0.02)
    _start(service, observer, 2, _sleeper(0), 30)
    await service.drain()
    assert observer.outcomes[1].state == RunState.TIMED_OUT
    assert observer.outcomes[2].state == RunState.SUCCEEDED
    assert seen == [0, 0]  # as asyncio.timeout's exit leaves it


def test_a_service_used_on_a_new_loop_times_out_there() -> None:
    service = _service()
    first = _Observer()

    async def quick() -> None:  # leaves the service's timer set, 0.5 s ahead, on this loop
        _start(service, first, 1, _sleeper(0), 0.5)
        await service.drain()

    asyncio.run(quick())
    assert first.outcomes[1].state == RunState.SUCCEEDED
    second = _Observer()

    async def hangs() -> None:  # a later deadline than the dead loop's timer: set on this loop
        _start(service, second, 2, _sleeper(30), 1.0)
        await service.drain()

    asyncio.run(hangs())
    assert second.outcomes[2].state == RunState.TIMED_OUT


def test_on_uvloop_as_opsroom_run_serves_with() -> None:
    """uvloop's clock has millisecond steps: a run is timed out when its timer fires, never
    left running for want of a hair of time, and shorter deadlines set later come first."""
    uvloop = pytest.importorskip("uvloop")
    service, observer = _service(), _Observer()

    async def main() -> None:
        for run_id, timeout in ((1, 0.2), (2, 0.0005), (3, 0.013), (4, 0.0)):
            _start(service, observer, run_id, _sleeper(30), timeout)
        _start(service, observer, 5, _sleeper(0), 0.2)
        await service.drain()

    uvloop.run(main())
    assert [observer.outcomes[i].state for i in range(1, 6)] == [RunState.TIMED_OUT] * 4 + [RunState.SUCCEEDED]
    assert observer.outcomes[4].error == "timed out after 0s"
