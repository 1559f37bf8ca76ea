"""The command pipeline: one ordered list of steps every command goes through.

    route → parse → authorize → change review → break-glass → freeze → rate limit → pre-flight
    → hold → lock → submit

Each step is a small function ``async (StepContext) -> Stop | None``: None lets the command
go on, a ``Stop`` ends it with an answer and the audit rows that say why. Steps never write
and never see the engine: they read through ``ctx.services`` and note what they found on the
context (the decision, an accepted break-glass reason, what the run must wait for, its lock).
The engine applies the outcome — writes the audit rows, answers, submits the run — and only
when ``ctx.live``. ``opsroom policy check`` and the API's check run the very same steps with
``live=False``, so they agree with chat by construction.

Plugins add steps into a named slot (``Step.after``); ``change review`` is the tickets plugin's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ContextManager, Protocol, cast

from sqlalchemy import Connection

from opsroom.audit import AuditRecord
from opsroom.commands.catalog import Catalog
from opsroom.core import Decision, Invocation, Place, Principal, Requirement, RunState
from opsroom.core.message import Tone

if TYPE_CHECKING:
    from opsroom.config.guardrails import GuardrailsConfig
    from opsroom.guardrails.freezes import ActiveFreeze, FreezeBook
    from opsroom.guardrails.ratelimit import RateLimiter

# The order of the slots; a step names its slot, plugins fill theirs.
ORDER: tuple[str, ...] = (
    "route",
    "parse",
    "authorize",
    "change review",
    "break-glass",
    "freeze",
    "rate limit",
    "pre-flight",
    "hold",
    "lock",
)  # … then the engine submits (or answers a built-in in process)


@dataclass(frozen=True)
class Stop:
    """The command goes no further: ``text`` is the answer (empty: say nothing), ``audit``
    the rows that record why, ``outcome`` the verdict's kind for check and metrics."""

    outcome: str  # ignored | error | deny | frozen | limited | locked
    text: str = ""
    tone: Tone = "denied"
    audit: tuple[AuditRecord, ...] = ()


class PolicyView(Protocol):
    def decide(
        self, principal: Principal, action: str, args: Mapping[str, Any], place: Place, now: dt.datetime | None = None
    ) -> Decision: ...


class GuardrailRules(Protocol):
    """What the guardrail steps read: the configured freezes, limits and break-glass rules."""

    @property
    def config(self) -> GuardrailsConfig: ...

    @property
    def freezes(self) -> FreezeBook: ...

    @property
    def limiter(self) -> RateLimiter: ...


@dataclass(frozen=True)
class Services:
    """The narrow, read-only view the steps get: no engine, no chat, no writes."""

    catalog: Catalog
    policy: PolicyView
    guardrails: GuardrailRules
    engine_flags: Mapping[str, type]
    redact: Callable[[str], str]
    # Opens a read connection; None in an offline check (no database): steps that need live
    # state (chat freezes, rate limits, locks) then say so instead of guessing.
    read: Callable[[], ContextManager[Connection]] | None = None
    bot_names: tuple[str, ...] = ("opsroom",)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    # Live helpers a plugin step may need (e.g. the ticket desk for change review), by name.
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """One command on its way through the pipeline: what came in, and what steps found."""

    text: str
    principal: Principal
    place: Place
    services: Services
    live: bool = True
    addressed: bool = True
    via: str = ""
    now: dt.datetime = field(default_factory=functools.partial(dt.datetime.now, dt.UTC))
    inv: Invocation | None = None
    decision: Decision | None = None
    break_glass: str | None = None  # the reason, once break-glass is accepted
    freeze: ActiveFreeze | None = None  # overridden by break-glass
    needs: list[Requirement] = field(default_factory=list)  # confirmations first, then approvals
    overridden: list[Requirement] = field(default_factory=list)  # approvals break-glass skipped
    lock_key: str | None = None
    notes: list[str] = field(default_factory=list)  # what an offline check could not look at
    trail: list[AuditRecord] = field(default_factory=list)  # rows written with the run, live
    # What the pipeline closes when it ends (the read connection): made with that connection,
    # which most commands never open.
    _stack: contextlib.ExitStack | None = field(default=None, repr=False)
    _conn: Connection | None = field(default=None, repr=False)

    @property
    def invocation(self) -> Invocation:
        assert self.inv is not None, "a step after parse needs the invocation"
        return self.inv

    @property
    def allowed(self) -> Decision:
        assert self.decision is not None, "a step after authorize needs the decision"
        return self.decision

    def conn(self) -> Connection | None:
        """A read connection, checked out of the pool only when a query runs (most commands
        read nothing: chat freezes are cached, most have no rate limit) and closed when the
        pipeline ends; None in an offline check."""
        if self._conn is None and self.services.read is not None:
            self._conn = cast(Connection, _ReadOnDemand(self.services.read, self))
        return self._conn

    def record(
        self, action: str, summary: str, *, detail: Mapping[str, Any] | None = None, with_command: bool = True
    ) -> AuditRecord:
        """An audit row about this command (written by the engine, in live mode only)."""
        command = self.inv.command.name if self.inv is not None and with_command else ""
        return AuditRecord(
            action=action,
            summary=summary,
            detail=dict(detail or {}),
            actor=self.principal.name,
            platform=self.place.platform,
            channel=self.place.name,
            command=command,
        )

    @property
    def initial_state(self) -> RunState:
        """The state the run is written in: waiting for what it needs, else queued."""
        if not self.needs:  # most commands
            return RunState.QUEUED
        kinds = {r.kind for r in self.needs}
        if "confirmation" in kinds:
            return RunState.AWAITING_CONFIRMATION
        if "approval" in kinds:
            return RunState.AWAITING_APPROVAL
        return RunState.QUEUED


class _ReadOnDemand:
    """Stands in for a Connection; opens the real one at its first use."""

    def __init__(self, read: Callable[[], ContextManager[Connection]], ctx: StepContext) -> None:
        self._read, self._ctx = read, ctx
        self._conn: Connection | None = None

    def __getattr__(self, name: str) -> Any:
        if self._conn is None:
            stack = self._ctx._stack
            if stack is None:  # closed by Pipeline.run when the steps end
                stack = self._ctx._stack = contextlib.ExitStack()
            self._conn = stack.enter_context(self._read())
        return getattr(self._conn, name)


# A step is an async function, or a plain one when it awaits nothing (the core steps): the
# pipeline awaits whatever a step returns that is neither None nor a Stop.
StepFn = Callable[[StepContext], Awaitable[Stop | None]] | Callable[[StepContext], Stop | None]


@dataclass(frozen=True)
class Step:
    """One unit of the pipeline. ``slot`` is its place in ``ORDER``; ``builtins``: whether it
    runs for built-in commands too (they stop at authorize and are answered in process);
    ``first``: it runs before the slot's other steps (a plugin's route step that claims a
    message — a question in the help channel — before the core calls it conversation)."""

    slot: str
    run: StepFn
    builtins: bool = False
    first: bool = False


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...]

    @classmethod
    def build(cls, steps: Sequence[Step]) -> Pipeline:
        """Order steps by their slot (a slot may hold several: ``first`` ones, then the rest, each
        kept in the order given)."""
        unknown = [s.slot for s in steps if s.slot not in ORDER]
        if unknown:
            raise ValueError(f"pipeline slot {unknown[0]!r} does not exist (slots: {', '.join(ORDER)})")
        return cls(tuple(sorted(steps, key=lambda s: (ORDER.index(s.slot), not s.first))))

    @property
    def slots(self) -> list[str]:
        return [s.slot for s in self.steps]

    @functools.cached_property
    def _calls(self) -> tuple[tuple[StepFn, bool], ...]:
        # (function, runs for built-ins) per step, taken out once per pipeline (a pipeline is
        # built whole with the config and replaced whole on reload).
        return tuple((s.run, s.builtins) for s in self.steps)

    async def run(self, ctx: StepContext) -> Stop | None:
        """Every step in order until one stops the command; None: submit it. What the steps
        opened (``ctx.conn()``) is closed at the end, as ``with ctx._stack:`` around the
        steps would, but without an ExitStack for the commands that open nothing."""
        stop: Stop | None = None
        try:
            for run, builtins in self._calls:
                if not builtins and ctx.inv is not None and ctx.inv.command.builtin:
                    continue
                found = run(ctx)
                if found is not None and not isinstance(found, Stop):
                    found = await found  # an async step's coroutine (or any awaitable)
                if found is not None:
                    stop = found
                    break
        except BaseException as exc:
            stack = ctx._stack
            if stack is None or not stack.__exit__(type(exc), exc, exc.__traceback__):
                raise
            return None  # suppressed by what the stack holds, as a with block would
        if ctx._stack is not None:
            ctx._stack.__exit__(None, None, None)
        return stop
