"""The engine: runs each inbound event through the pipeline and applies the outcome.

The engine knows no chat platform. Adapters hand it ``MessageEvent``s and ``ActionEvent``s;
it answers through the ChatHub. What a command goes through is the pipeline
(``engine.pipeline``): the engine only applies a step's ``Stop`` (audit rows, an answer),
answers built-ins in process, and submits what got through — the run row and its audit rows
in one transaction, before anything starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from opsroom import metrics
from opsroom.actions import ActionRegistry, ActionRequest, ActionSigner
from opsroom.audit import AuditRecord
from opsroom.builtins import BuiltinHandler
from opsroom.chat.base import ChatHub
from opsroom.core import (
    Decision,
    Inbound,
    Invocation,
    Message,
    MessageEvent,
    MessageRef,
    Place,
    Principal,
    Runner,
    RunState,
)
from opsroom.directory import Directory
from opsroom.engine import buttons, hooks, interrupted, recovery, steps, submission
from opsroom.engine.delivery import Delivery, Duplicate
from opsroom.engine.pipeline import Pipeline, Services, StepContext, Stop
from opsroom.engine.steps import CORE_STEPS
from opsroom.runs import store as run_store
from opsroom.runs.registry import ActionFactory
from opsroom.runs.service import RunOutcome, RunService
from opsroom.store import Database
from opsroom.store.tables import processed_events

log = structlog.get_logger("opsroom.engine")
_INSERT_PROCESSED = insert(processed_events)

if TYPE_CHECKING:
    from opsroom.audit import AuditLog
    from opsroom.commands.catalog import Catalog
    from opsroom.guardrails.holds import Guardrails
    from opsroom.policy.engine import PolicyEngine
    from opsroom.reporter import Reporter

# A step's outcome -> the label it is counted under in opsroom_commands_total.
_METRIC = {"error": "parse_error", "deny": "denied"}


PRIVATE_BUILTINS = frozenset({"help"})  # answers only the asker needs (Slack's help is ephemeral too)


@dataclass(frozen=True)
class EngineParts:
    """What the engine decides with; built whole from the plugins and swapped whole on reload."""

    catalog: Catalog
    policy: PolicyEngine
    directory: Directory
    builtins: Mapping[str, BuiltinHandler] = field(default_factory=dict)
    pipeline: Pipeline = field(default_factory=lambda: Pipeline.build(CORE_STEPS))
    engine_flags: Mapping[str, type] = field(default_factory=lambda: {"dry-run": bool})
    runners: Mapping[str, Runner] = field(default_factory=dict)  # command name -> its runner
    actions: Mapping[str, ActionFactory] = field(default_factory=dict)  # hook action factories
    extras: Mapping[str, Any] = field(default_factory=dict)  # live helpers for plugin steps
    # (platform, channel id or #name) of channels whose errors and denials everyone sees
    public_answers: frozenset[tuple[str, str]] = frozenset()


class Engine:
    def __init__(
        self,
        *,
        db: Database,
        audit: AuditLog,
        chat: ChatHub,
        parts: EngineParts,
        signer: ActionSigner,
        runs: RunService,
        reporter: Reporter,
        redactor: Callable[[str], tuple[str, int]],
        guardrails: Callable[[Engine], Guardrails],
        actions: Mapping[str, Callable[[Engine, ActionRequest], Awaitable[Message | None]]] = {},
        bot_names: tuple[str, ...] = ("opsroom",),
        demo: bool = False,
        public_url: str = "",
    ) -> None:
        self.db = db
        self.audit = audit
        self.chat = chat
        self.signer = signer
        self.runs = runs
        self.reporter = reporter
        self.redactor = redactor
        self.bot_names = bot_names
        self.demo = demo
        self.public_url = public_url
        self._pending: set[asyncio.Task[Any]] = set()
        # Cluster mode with a job queue (cluster/jobs.py): hands a queued run, once its row is
        # committed, to whichever replica's worker takes it; False means "run it here".
        self.defer: Callable[[int, Invocation], Awaitable[bool]] | None = None
        # Cluster mode (cluster/fanout.py): asks the replica running a run to cancel it.
        self.cancel_elsewhere: Callable[[run_store.RunRow, str], bool] | None = None
        self.guardrails = guardrails(self)
        self.parts = parts
        self.actions = ActionRegistry()
        self.actions.register("run.cancel", functools.partial(buttons.action_cancel, self))
        self.actions.register("command.run", functools.partial(buttons.action_command, self))
        for kind, handler in interrupted.actions().items():  # Mark failed on an interrupted run
            self.actions.register(kind, functools.partial(handler, self))
        for kind, handler in actions.items():
            self.actions.register(kind, functools.partial(handler, self))

    @property
    def parts(self) -> EngineParts:
        return self._parts

    @parts.setter
    def parts(self, parts: EngineParts) -> None:
        """Swap what the engine decides with (reload): parts and the steps' view of them
        change together, in one assignment each, between two events."""
        self._parts = parts
        self.services = Services(
            catalog=parts.catalog,
            policy=parts.policy,
            guardrails=self.guardrails,
            engine_flags=parts.engine_flags,
            redact=self._clean,
            read=self.db.read,
            bot_names=self.bot_names,
            extras=parts.extras,
        )

    @property
    def engine_flags(self) -> Mapping[str, type]:
        return self.parts.engine_flags

    # -- entry point ------------------------------------------------------------------------
    async def handle(self, event: Inbound) -> None:
        """Adapters call this for every inbound event. Never raises: a failure is logged
        and, where possible, answered."""
        platform = event.place.platform
        try:
            if isinstance(event, MessageEvent):
                # The marker commits with what the command produces (engine/delivery.py);
                # a message that produced nothing (ordinary conversation) is marked alone.
                delivery = Delivery(event.event_id, platform) if event.event_id else None
                await self._on_message(event, delivery)
                if delivery is not None and not delivery.claimed:
                    async with self.db.write() as conn:
                        delivery.claim(conn)
            else:
                if event.event_id and not await self._first_delivery_shared(event.event_id, platform):
                    metrics.DUPLICATES.labels(platform).inc()
                    return
                await buttons.on_action(self, event)
        except Duplicate:
            metrics.DUPLICATES.labels(platform).inc()
        except Exception:
            log.exception("handle_failed", platform=event.place.platform)
            try:
                await self.reply(
                    event.place,
                    Message.plain("Something went wrong on our side; it is logged. Nothing was run.", "failure"),
                )
            except Exception:
                log.exception("error_reply_failed")

    async def _first_delivery_shared(self, event_id: str, platform: str) -> bool:
        """``_first_delivery`` for every inbound event: its insert shares a commit with the
        other writes of this loop turn, and is durable before the event is handled."""
        try:
            async with self.db.write() as conn:
                conn.execute(
                    _INSERT_PROCESSED, {"event_id": event_id[:200], "platform": platform, "seen_at": run_store.utcnow()}
                )
            return True
        except IntegrityError:
            return False

    async def reply(self, place: Place, message: Message) -> MessageRef:
        return await self.chat.send(place, message)

    def principal_for(self, platform: str, sender_id: str, email: str = "") -> Principal:
        return self.parts.directory.resolve(platform, sender_id, email)

    # -- typed commands ---------------------------------------------------------------------
    async def _on_message(self, event: MessageEvent, delivery: Delivery | None = None) -> None:
        principal = self.principal_for(event.place.platform, event.sender_id, event.sender_email)
        ctx = StepContext(
            event.text, principal, event.place, self.services, addressed=event.addressed or event.place.is_direct
        )
        await self._process(ctx, typed=True, delivery=delivery)

    async def dispatch(self, inv: Invocation, *, via: str = "") -> int | None:
        """A command already parsed (a hook's chained command, a button that types one): the
        rest of the pipeline, then submit. Returns the run id if a run was created."""
        ctx = StepContext(inv.raw_text, inv.principal, inv.place, self.services, via=via, inv=inv)
        return await self._process(ctx)

    async def _process(self, ctx: StepContext, *, typed: bool = False, delivery: Delivery | None = None) -> int | None:
        stop = await self.parts.pipeline.run(ctx)
        if typed and (stop is None or stop.outcome != "ignored"):
            metrics.labelled(metrics.INBOUND, ctx.place.platform).inc()
        if stop is not None:
            await self._stopped(ctx, stop, delivery)
            return None
        inv = ctx.invocation
        if inv.command.builtin:
            await self._builtin(ctx, delivery)
            return None
        received = steps.received(ctx)
        run_id = await self.submit(
            inv,
            ctx.allowed,
            received,
            initial=ctx.initial_state,
            lock_key=ctx.lock_key,
            trail=ctx.trail,
            delivery=delivery,
            shown_text=received["text"],  # the typed text, masked and redacted: once a command
        )
        if run_id is not None and (ctx.needs or ctx.break_glass is not None):
            await self.guardrails.held(
                inv,
                run_id,
                ctx.needs,
                break_glass=ctx.break_glass,
                freeze=ctx.freeze.name if ctx.freeze is not None else "",
                overridden=ctx.overridden,
            )
        return run_id

    async def _stopped(self, ctx: StepContext, stop: Stop, delivery: Delivery | None = None) -> None:
        """A step stopped the command: write its audit rows (with the delivery's marker),
        count it, answer."""
        if stop.outcome == "ignored":
            return  # ordinary conversation: not for us, not recorded
        if stop.audit:
            with self.db.begin() as conn:
                if delivery is not None:
                    delivery.claim(conn)
                self.audit.append_many(conn, list(stop.audit))
        name = ctx.inv.command.name if ctx.inv is not None else "?"
        metrics.labelled(metrics.COMMANDS, name, _METRIC.get(stop.outcome, stop.outcome)).inc()
        if stop.text:
            answer = Message.plain(stop.text, stop.tone)
            await self.reply(ctx.place, self.to_asker(ctx.place, ctx.principal, answer))

    async def _builtin(self, ctx: StepContext, delivery: Delivery | None = None) -> None:
        inv = ctx.invocation
        handler = self.parts.builtins.get(inv.command.name)
        if handler is None:
            await self.reply(
                inv.place,
                self.to_asker(
                    inv.place, inv.principal, Message.plain(f"`{inv.command.name}` is not available here.", "warning")
                ),
            )
            return
        # The marker commits before the handler runs (with the decision row when there is
        # one): a crash inside a handler loses that built-in rather than repeating it.
        if not inv.command.read_only:
            submission.record_decision(self, inv, steps.received(ctx), ctx.allowed, delivery)
        elif delivery is not None:
            async with self.db.write() as conn:
                delivery.claim(conn)
        answer = await handler(self, inv)
        metrics.labelled(metrics.COMMANDS, inv.command.name, "builtin").inc()
        if answer is not None:
            if inv.command.name in PRIVATE_BUILTINS or answer.tone == "denied":
                answer = self.to_asker(inv.place, inv.principal, answer)
            await self.reply(inv.place, answer)

    def to_asker(self, place: Place, principal: Principal, message: Message) -> Message:
        """``message`` shown to the asker only ("only you can see this"), as Slack does for
        errors and help, where the platform can and the channel keeps answers private
        (``channels[].private_answers``, on by default). A direct message stays as it is.
        The answer is also marked for the asker, so an adapter that can answer through the
        person's own command (Slack's and Mattermost's response_url) does, also where the bot
        cannot post or in a DM between people."""
        if (
            message.ephemeral_to
            or (place.platform, place.channel) in self.parts.public_answers
            or (place.platform, place.name) in self.parts.public_answers
        ):
            return message
        message = _to_asker(message)
        if place.is_direct:
            return message
        try:
            adapter = self.chat.get(place.platform)
        except LookupError:
            return message
        if not adapter.capabilities.ephemeral:
            return message
        sender = principal.identities.get(place.platform) or principal.name
        return dataclasses.replace(message, ephemeral_to=sender)

    def decide(self, inv: Invocation) -> Decision:
        """The authorize step's decision alone (a held run is re-checked when released)."""
        return steps.decide(StepContext(inv.raw_text, inv.principal, inv.place, self.services, inv=inv))

    def lock_key(self, inv: Invocation) -> str | None:
        if not inv.command.lock or inv.flags.get("dry_run"):
            return None
        return inv.command.lock.format_map({k: str(v) for k, v in inv.args.items()})

    def stored_args(self, inv: Invocation) -> dict[str, Any]:
        """Arguments as stored and audited: secret ones masked, secrets typed into free-text
        ones redacted."""
        # As ``inv.shown_args("[REDACTED]")`` then each string cleaned, in one pass (no copy).
        secret = inv.command.secret_args
        clean = self._clean
        out: dict[str, Any] = {}
        for k, v in inv.args.items():
            if k in secret:
                v = "[REDACTED]"
            out[k] = clean(v) if isinstance(v, str) else v
        return out

    # -- runs, hooks, buttons, recovery: engine/submission.py, hooks.py, buttons.py, recovery.py
    async def submit(
        self,
        inv: Invocation,
        decision: Decision,
        received: Mapping[str, Any],
        *,
        initial: RunState = RunState.QUEUED,
        lock_key: str | None = None,
        trail: Sequence[AuditRecord] = (),
        delivery: Delivery | None = None,
        shown_text: str | None = None,
    ) -> int | None:
        """Write the run (and its audit rows) before anything executes, then start it."""
        return await submission.submit(
            self,
            inv,
            decision,
            received,
            initial=initial,
            lock_key=lock_key,
            trail=trail,
            delivery=delivery,
            shown_text=shown_text,
        )

    def start_run(self, run_id: int, inv: Invocation, *, reserved: bool = False) -> None:
        submission.start_run(self, run_id, inv, reserved=reserved)

    async def on_run_finished(
        self, run_id: int, outcome: RunOutcome, inv: Invocation, ref: MessageRef | None = None
    ) -> None:
        await hooks.on_run_finished(self, run_id, outcome, inv, ref)

    async def cancel_run(self, run_id: int, principal: Principal, place: Place) -> Message:
        return await buttons.cancel_run(self, run_id, principal, place)

    async def audit_denied_click(self, req: ActionRequest, permission: str, decision: Decision) -> None:
        await buttons.audit_denied_click(self, req, permission, decision)

    async def recover(self, only: Callable[[run_store.RunRow], bool] | None = None) -> list[int]:
        """End and mark interrupted the runs a stop or crash cut off (engine/recovery.py)."""
        return await recovery.recover(self, only)

    def authorize_action(self, principal: Principal, action: str, args: Mapping[str, Any], place: Place) -> Decision:
        """Buttons are authorized like typed commands: the policy action is the button kind's
        command (``cancel`` for run.cancel, ``alert.ack``…)."""
        decision: Decision = self.parts.policy.decide(principal, action, args, place)
        return decision

    def thread_link(self, place: Place, ref: MessageRef | None) -> str:
        """Where a run's thread is, for tickets and notices: the web chat's URL when opsroom
        has a public URL, else platform, channel and message id."""
        message = ref.message_id if ref is not None else ""
        if place.platform == "web" and message:  # a link (relative without a public URL)
            root = (ref.place.thread if ref is not None else None) or message
            return f"{self.public_url.rstrip('/')}/chat/{place.channel}?thread={root}#m{message}"
        return f"the thread in {place.name}" if message else place.name  # plain words, no ids

    def _clean(self, text: str) -> str:
        return self.redactor(text)[0]


def _to_asker(message: Message) -> Message:
    """Marks an answer meant for the person who typed (help, look-ups, errors, denials).
    Adapters that can answer one person privately where they typed (Slack's and
    Mattermost's command responses) do; the others post it as before."""
    return dataclasses.replace(message, extra={**message.extra, "audience": "asker"})
