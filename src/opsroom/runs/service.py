"""Executing runs: the row is written first, then the runner starts in its own task.

One ``RunService`` per process. It owns the asyncio tasks of the runs it started, enforces
timeouts and cancellation, keeps the output (redacted, capped) and the state machine, and
tells a ``RunObserver`` (the reporter) what happens so chat can show it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import structlog

from opsroom.audit import AuditRecord
from opsroom.core import OutputChunk, RunContext, Runner, RunState
from opsroom.core.quickinit import quick_init
from opsroom.policy.redaction import StreamRedactor
from opsroom.runs import lifecycle, orphans
from opsroom.runs import store as run_store
from opsroom.store import Database

log = structlog.get_logger("opsroom.runs")


AuditAppender = lifecycle.AuditAppender


def _record(
    action: str, actor: str, run_id: int, summary: str, detail: dict[str, Any] | None, fields: dict[str, str]
) -> AuditRecord:
    return AuditRecord(
        actor=actor,
        action=action,
        run_id=run_id,
        summary=summary,
        detail=detail,
        command=fields.get("command", ""),
        platform=fields.get("platform", ""),
        channel=fields.get("channel", ""),
    )


@dataclass
class LiveRun:
    """What the process knows about a run while it executes."""

    run_id: int
    command: str
    user: str
    started: float = field(default_factory=time.monotonic)
    output: list[str] = field(default_factory=list)
    output_chars: int = 0
    truncated: bool = False
    last_progress: str = ""
    task: asyncio.Task[None] | None = None
    cancelled_by: str = ""
    finishing: bool = False  # its outcome is being recorded: too late to cancel
    # While its runner runs: when it times out (the loop's clock), see RunService._watch.
    deadline: float | None = None
    timed_out: bool = False  # its deadline passed and its task was cancelled for it
    runner_task: asyncio.Task[Any] | None = None  # the task its deadline cancels
    # one per output stream: a private key printed over several chunks is masked whole
    redactors: dict[str, StreamRedactor] = field(default_factory=dict)


@quick_init  # one a run (core/quickinit.py)
@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    state: RunState
    exit_code: int | None
    duration: float
    output: str
    result: str
    error: str
    redactions: int


class RunObserver(Protocol):
    async def run_started(self, run_id: int, live: LiveRun | None = None) -> None: ...
    async def run_progress(self, run_id: int, live: LiveRun) -> None: ...
    async def run_finished(self, run_id: int, outcome: RunOutcome) -> None: ...


class RunService:
    def __init__(
        self, db: Database, audit: AuditAppender, *, redact: Callable[[str], tuple[str, int]], max_concurrent: int = 16
    ) -> None:
        self.db = db
        self.audit = audit
        self.redact = redact
        self.live: dict[int, LiveRun] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        # One loop timer for every run's timeout, due at the earliest deadline (see _watch).
        self._wake: asyncio.Handle | None = None
        self._wake_at = math.inf
        self._wake_loop: asyncio.AbstractEventLoop | None = None

    # -- starting ---------------------------------------------------------------------------
    def reserve(self) -> bool:
        """Take a run slot now if one is free. A run submitted with a slot in hand is written
        straight as ``running`` (one transaction fewer); otherwise it is ``queued`` and waits."""
        if self._slots.locked():
            return False
        self._slots._value -= 1  # noqa: SLF001 - a non-blocking acquire; asyncio has none
        return True

    def unreserve(self) -> None:
        self._slots.release()

    async def take_slot(self) -> None:
        """Wait for a run slot (a run claimed from the cluster's job queue starts holding one)."""
        await self._slots.acquire()

    def start(
        self,
        run_id: int,
        runner: Runner,
        ctx: RunContext,
        observer: RunObserver,
        *,
        lock_key: str | None,
        output_max_chars: int,
        audit_fields: dict[str, str],
        reserved: bool = False,
    ) -> LiveRun:
        live = LiveRun(run_id, ctx.command, ctx.user)
        self.live[run_id] = live
        if ctx.on_process is None:  # the engine sets it when it builds ctx (one copy fewer)
            ctx = dataclasses.replace(ctx, on_process=self.process_recorder(run_id))
        # The loop's own create_task: what asyncio.create_task calls, without its Python
        # wrapper and its separate set_name (2.9 -> 2.1 µs on uvloop).
        live.task = asyncio.get_running_loop().create_task(
            self._execute(live, runner, ctx, observer, lock_key, output_max_chars, audit_fields, reserved),
            name=f"run-{run_id}",
        )
        return live

    def _watch(self, live: LiveRun, timeout: float | None) -> tuple[asyncio.Task[Any], int]:
        """Start ``live``'s timeout (what ``asyncio.timeout`` did on entry): its deadline on
        the loop's clock, and the run service's one timer moved earlier if it is the first
        due. Runs mostly end long before their timeout, so most runs add no loop timer (and
        cancel none) where each had one. Returns the task and its cancel count on entry."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a run executes inside a task")
        live.runner_task = task
        if timeout is None:
            return task, task.cancelling()
        loop = asyncio.get_running_loop()
        deadline = live.deadline = loop.time() + timeout
        if deadline < self._wake_at or self._wake_loop is not loop:
            self._arm(loop, deadline)
        return task, task.cancelling()

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._wake is not None and self._wake_loop is loop:  # (another loop's: that one has ended)
            self._wake.cancel()
        if when <= loop.time():  # (as asyncio.timeout: due already, on the next turn)
            self._wake = loop.call_soon(self._expire, when)
        else:
            self._wake = loop.call_at(when, self._expire, when)
        self._wake_at = when
        self._wake_loop = loop

    def _expire(self, due: float) -> None:
        """The timer is due: cancel each run past its deadline (what a run's own timer did),
        then set the timer for the earliest deadline left."""
        loop = asyncio.get_running_loop()
        if loop is not self._wake_loop:
            return  # set on a loop this service has left since
        self._wake, self._wake_at, self._wake_loop = None, math.inf, None
        # Runs due when this timer was set for are due now, even if the loop woke a hair early.
        now = max(loop.time(), due)
        earliest = math.inf
        for live in list(self.live.values()):
            deadline = live.deadline
            if deadline is None or live.runner_task is None:
                continue
            if deadline <= now:
                live.deadline = None
                live.timed_out = True
                live.runner_task.cancel()
            elif deadline < earliest:
                earliest = deadline
        if earliest < math.inf:
            self._arm(loop, earliest)

    def process_recorder(self, run_id: int) -> Callable[[int], None]:
        """``RunContext.on_process`` for ``run_id``: records a process group it starts."""
        return functools.partial(self._record_process, run_id)

    def _record_process(self, run_id: int, pid: int) -> None:
        """A runner started a process group: keep who it is in the run row before it does
        anything that matters (a short synchronous write, once per local process)."""
        process = orphans.identity(pid)
        if process is not None:
            with self.db.begin() as conn:
                orphans.record(conn, run_id, process)

    async def _execute(
        self,
        live: LiveRun,
        runner: Runner,
        ctx: RunContext,
        observer: RunObserver,
        lock_key: str | None,
        output_max_chars: int,
        audit_fields: dict[str, str],
        reserved: bool,
    ) -> None:
        run_id = live.run_id
        exit_code: int | None = None
        result = ""
        error = ""
        state = RunState.FAILED
        redactions = 0
        holding = reserved  # whether this run holds a slot that it must give back
        current = RunState.RUNNING if reserved else RunState.QUEUED  # as written in its row
        try:
            if not holding:
                await self._slots.acquire()
                holding = True
                await self.db.run_write(  # durable before the runner starts
                    functools.partial(
                        lifecycle.move,
                        run_id=run_id,
                        current=current,
                        to=RunState.RUNNING,
                        audit=self.audit,
                        record=_record("run.started", ctx.user, run_id, f"run #{run_id} started", None, audit_fields),
                        started_at=run_store.utcnow(),
                    )
                )
                current = RunState.RUNNING
            try:
                live.started = time.monotonic()
                await observer.run_started(run_id, live)
                try:
                    # asyncio.timeout(ctx.timeout), without a loop timer of each run's own.
                    task, cancelling = self._watch(live, ctx.timeout)
                    try:
                        async for chunk in runner.execute(ctx):
                            redactions += self._take(live, chunk, output_max_chars)
                            if chunk.exit_code is not None:
                                exit_code = chunk.exit_code
                            if chunk.result:
                                result, n = self.redact(chunk.result)
                                redactions += n
                            # A chunk with the exit code is the runner's last: the final
                            # message shows it next, so no progress edit (nor its timer) for it.
                            if chunk.exit_code is None and (chunk.stream == "progress" or chunk.text):
                                await observer.run_progress(run_id, live)
                    except asyncio.CancelledError:
                        live.deadline = None
                        if live.timed_out and _taken_back(live, task, cancelling):
                            raise TimeoutError from None  # its own expiry, nobody else's cancel
                        raise
                    finally:
                        live.deadline = None  # past its runner: the timeout no longer applies
                        if live.timed_out:  # expired, and the runner ended some other way
                            _taken_back(live, task, cancelling)
                    state = RunState.SUCCEEDED if exit_code in (0, None) else RunState.FAILED
                except TimeoutError:
                    state = RunState.TIMED_OUT
                    error = f"timed out after {_fmt_seconds(ctx.timeout)}"
                except asyncio.CancelledError:
                    state = RunState.CANCELLED
                    error = f"cancelled by {live.cancelled_by}" if live.cancelled_by else "cancelled"
                    if not live.cancelled_by:  # shutting down, not a user's /cancel
                        state = RunState.INTERRUPTED
                        error = "opsroom stopped while this run was running"
                except Exception as exc:  # a runner bug or a failure to start: the run fails, we go on
                    log.exception("runner_failed", run_id=run_id)
                    error, n = self.redact(f"{type(exc).__name__}: {exc}")
                    redactions += n
                    state = RunState.FAILED
                redactions += self._flush(live, output_max_chars)
            finally:
                self._slots.release()
                holding = False
        except asyncio.CancelledError:
            # Cancelled while still waiting for a slot.
            state = RunState.CANCELLED if live.cancelled_by else RunState.INTERRUPTED
            error = f"cancelled by {live.cancelled_by}" if live.cancelled_by else "opsroom stopped"
        finally:
            if holding:  # cancelled before it began: give the slot back
                self._slots.release()
            outcome = RunOutcome(
                run_id=run_id,
                state=state,
                exit_code=exit_code,
                duration=time.monotonic() - live.started,
                output="".join(live.output),
                result=result,
                error=error,
                redactions=redactions,
            )
            live.finishing = True
            await self._finish(live, outcome, current, lock_key, audit_fields)
            self.live.pop(run_id, None)
        await observer.run_finished(run_id, outcome)

    def _take(self, live: LiveRun, chunk: OutputChunk, limit: int) -> int:
        """Keep output (redacted, capped). Returns the number of redactions made."""
        if not chunk.text:
            return 0
        stream = live.redactors.get(chunk.stream)
        if stream is None:
            stream = live.redactors[chunk.stream] = StreamRedactor(self.redact)
        text, redactions = stream.feed(chunk.text)
        if not text:  # held back: inside a private key block
            return redactions
        return redactions + self._keep(live, chunk.stream, text, limit)

    def _flush(self, live: LiveRun, limit: int) -> int:
        """The runner ended: blocks still open (a key cut off mid-way) are masked, never shown."""
        redactions = 0
        for name, stream in live.redactors.items():
            text, n = stream.finish()
            if text:
                redactions += n + self._keep(live, name, text, limit)
        return redactions

    def _keep(self, live: LiveRun, stream: str, text: str, limit: int) -> int:
        """Keep redacted ``text`` (capped); returns 0 (the count is the caller's)."""
        redactions = 0
        if stream == "progress":
            live.last_progress = text.strip()
        line = text if text.endswith("\n") else text + "\n"
        if stream == "stderr":
            line = "".join(f"! {ln}\n" for ln in line.rstrip("\n").split("\n"))
        if live.output_chars + len(line) > limit:
            live.truncated = True
            return redactions
        live.output.append(line)
        live.output_chars += len(line)
        return redactions

    async def _finish(
        self, live: LiveRun, outcome: RunOutcome, current: RunState, lock_key: str | None, audit_fields: dict[str, str]
    ) -> None:
        lines = outcome.output.count("\n")
        summary = f"run #{outcome.run_id} {outcome.state.value}"
        if outcome.exit_code is not None:
            summary += f" (exit {outcome.exit_code})"
        if outcome.error:
            summary += f": {outcome.error}"
        detail: dict[str, Any] = {
            "state": outcome.state.value,
            "exit_code": outcome.exit_code,
            "duration_s": round(outcome.duration, 3),
            "output_lines": lines,
            "output_chars": len(outcome.output),
            "output_truncated": live.truncated,
        }
        if outcome.result:
            detail["result"] = outcome.result
        if outcome.redactions:
            detail["redactions"] = outcome.redactions
        record = _record("run.finished", live.user, outcome.run_id, summary, detail, audit_fields)
        await self.db.run_write(  # shared with other commands' writes
            functools.partial(
                lifecycle.move,
                run_id=outcome.run_id,
                current=current,
                to=outcome.state,
                audit=self.audit,
                record=record,
                lock_key=lock_key,
                finished_at=run_store.utcnow(),
                exit_code=outcome.exit_code,
                output=outcome.output,
                output_truncated=live.truncated,
                result=outcome.result,
                error=outcome.error,
            )
        )

    # -- controlling ------------------------------------------------------------------------
    def cancel(self, run_id: int, by: str) -> bool:
        live = self.live.get(run_id)
        if live is None or live.task is None or live.task.done():
            return False
        if live.finishing:  # it has ended; its final message is on its way
            return True
        live.cancelled_by = by
        live.task.cancel()
        return True

    async def drain(self) -> None:
        """Wait for every run this process started (the scripted shell and tests use it)."""
        while self.live:
            tasks = [lr.task for lr in self.live.values() if lr.task is not None]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            else:
                await asyncio.sleep(0)

    async def shutdown(self) -> None:
        """Stop: runs still running end as ``interrupted`` (recorded, and told on restart)."""
        for live in list(self.live.values()):
            if live.task is not None:
                live.task.cancel()
        await self.drain()
        if self._wake is not None:  # no run left to time out
            self._wake.cancel()
            self._wake, self._wake_at, self._wake_loop = None, math.inf, None


def _taken_back(live: LiveRun, task: asyncio.Task[Any], cancelling: int) -> bool:
    """A timed-out run's runner has ended: the cancel its expiry made is taken back (as
    asyncio.timeout's exit does). True when nobody else cancelled the task meanwhile, i.e.
    a ``CancelledError`` out of the runner is the timeout's own."""
    live.timed_out = False
    return task.uncancel() <= cancelling


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
