"""Run states and the Runner protocol that executes a command."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, AsyncIterator, Callable, Mapping, Protocol

from opsroom.core.quickinit import quick_init


class RunState(StrEnum):
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    DENIED = "denied"
    EXPIRED = "expired"


TERMINAL_STATES = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.TIMED_OUT,
        RunState.INTERRUPTED,
        RunState.DENIED,
        RunState.EXPIRED,
    }
)


@quick_init  # one or more a run (core/quickinit.py)
@dataclass(frozen=True)
class OutputChunk:
    """A piece of output. ``stream`` is "stdout", "stderr" or "progress" (a status line the
    reporter shows in the progress message). The final chunk of a run may carry ``exit_code``
    (0 = success) and ``result`` (a short summary, a URL)."""

    text: str = ""
    stream: str = "stdout"
    exit_code: int | None = None
    result: str = ""


@dataclass
class RunContext:
    """What a runner gets besides the spec: the run id, typed arguments, who asked."""

    run_id: int
    command: str
    args: Mapping[str, Any]
    user: str
    channel: str
    timeout: float
    dry_run: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # the RunnerSpec options
    # A runner that starts a local process group calls this with the leader's pid right
    # after spawning it, so a restart after a crash can find the group and end it before
    # the run's lock is freed (runs/orphans.py). Set by the run service.
    on_process: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    # Live helpers the plugins' start steps returned (``Extension.extras``), e.g. the cloud
    # plugin's key-deletion schedule; the same mapping pipeline steps read. Set by the engine.
    extras: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Runner(Protocol):
    """Executes one run. Yields output as it comes; raises on failure to start.

    Cancellation arrives as ``asyncio.CancelledError`` in the iterator; a runner must then
    stop what it started (kill the process group, cancel the remote job) before re-raising.
    The engine enforces ``ctx.timeout`` the same way.
    """

    def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]: ...


@dataclass(frozen=True)
class HookContext:
    """What a hook action (open a ticket, notify…) knows about the run that triggered it."""

    run_id: int
    command: str
    args: Mapping[str, Any]
    user: str
    platform: str
    channel: str
    outcome: str  # the run's final state: "succeeded", "failed", …
    exit_code: int | None
    output_tail: str
    thread_link: str  # a link or reference to the chat thread, "" if none
    audit_ids: tuple[int, ...]
    raw_text: str
    options: Mapping[str, Any] = field(default_factory=dict)  # the HookSpec options


class HookAction(Protocol):
    """A provider action run after a command (``HookSpec.action``). Returns a one-line
    result for chat and the audit, e.g. "ticket #17 opened"."""

    async def __call__(self, ctx: HookContext) -> str: ...
