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
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from opsroom import metrics
from opsroom.actions import ActionError, ActionRegistry, ActionRequest, ActionSigner
from opsroom.audit import AuditRecord
from opsroom.builtins import BuiltinHandler
from opsroom.chat.base import ChatHub
from opsroom.core import (
    ActionEvent,
    ConfigError,
    Decision,
    HookContext,
    Inbound,
    Invocation,
    Message,
    MessageEvent,
    MessageRef,
    OpsroomError,
    ParseError,
    Place,
    Principal,
    RunContext,
    Runner,
    RunState,
)
from opsroom.directory import Directory
from opsroom.engine import steps
from opsroom.engine.delivery import Delivery, Duplicate
from opsroom.engine.pipeline import Pipeline, Services, StepContext, Stop
from opsroom.engine.steps import CORE_STEPS
from opsroom.runs import interrupted, lifecycle, orphans
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
        self.actions.register("run.cancel", self._action_cancel)
        self.actions.register("command.run", self._action_command)
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
                await self._on_action(event)
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

    def _first_delivery(self, event_id: str, platform: str) -> bool:
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(processed_events).values(
                        event_id=event_id[:200], platform=platform, seen_at=run_store.utcnow()
                    )
                )
            return True
        except IntegrityError:
            return False

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

    def _forget_delivery(self, event_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(delete(processed_events).where(processed_events.c.event_id == event_id[:200]))

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
            metrics.INBOUND.labels(ctx.place.platform).inc()
        if stop is not None:
            await self._stopped(ctx, stop, delivery)
            return None
        inv = ctx.invocation
        if inv.command.builtin:
            await self._builtin(ctx, delivery)
            return None
        run_id = await self.submit(
            inv,
            ctx.allowed,
            steps.received(ctx),
            initial=ctx.initial_state,
            lock_key=ctx.lock_key,
            trail=ctx.trail,
            delivery=delivery,
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
        metrics.COMMANDS.labels(name, _METRIC.get(stop.outcome, stop.outcome)).inc()
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
            self._record_decision(inv, steps.received(ctx), ctx.allowed, delivery)
        elif delivery is not None:
            async with self.db.write() as conn:
                delivery.claim(conn)
        answer = await handler(self, inv)
        metrics.COMMANDS.labels(inv.command.name, "builtin").inc()
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

    def _record_decision(
        self, inv: Invocation, received: Mapping[str, Any], decision: Decision, delivery: Delivery | None = None
    ) -> None:
        """Audit a command that runs no run of its own (denied, or a built-in): what was
        typed and what policy said, with the deciding rule ids."""
        place = inv.place
        base: dict[str, Any] = {
            "actor": inv.principal.name,
            "platform": place.platform,
            "channel": place.name,
            "command": inv.command.name,
        }
        verdict = f"denied: {decision.reason}" if not decision.allowed else "allowed"
        with self.db.begin() as conn:
            if delivery is not None:
                delivery.claim(conn)
            self.audit.append_many(
                conn,
                [
                    AuditRecord(
                        action="command.received", summary=self._clean(inv.shown_text()), detail=dict(received), **base
                    ),
                    AuditRecord(
                        action="decision",
                        summary=verdict,
                        detail={"allowed": decision.allowed, "rules": list(decision.rule_ids)},
                        **base,
                    ),
                ],
            )

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
        return {k: self._clean(v) if isinstance(v, str) else v for k, v in inv.shown_args("[REDACTED]").items()}

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
    ) -> int | None:
        """Write the run (and its audit rows) before anything executes, then start it.
        ``delivery``'s marker commits in the same transaction (engine/delivery.py)."""
        place = inv.place
        actor = inv.principal.name
        base: dict[str, Any] = {
            "actor": actor,
            "platform": place.platform,
            "channel": place.name,
            "command": inv.command.name,
        }
        received_record = AuditRecord(
            action="command.received", summary=self._clean(inv.shown_text()), detail=dict(received), **base
        )
        refusal = ""
        # With a free run slot the run is written straight as running; else it queues.
        reserved = initial == RunState.QUEUED and self.defer is None and self.runs.reserve()
        state = RunState.RUNNING if reserved else initial
        # Shared with other commands' writes of this loop turn and committed once for all;
        # the block returns when the run row is durable, before anything starts.
        try:
            async with self.db.write() as conn:
                if delivery is not None:
                    delivery.claim(conn)  # first: a repeat writes nothing (raises Duplicate)
                holder = self._take_lock(conn, lock_key, actor) if lock_key else None
                if holder is not None and lock_key:
                    refusal = steps.lock_refusal(lock_key, holder)
                    self.audit.append_many(
                        conn,
                        [
                            received_record,
                            AuditRecord(
                                action="lock.refused",
                                summary=refusal,
                                detail={"lock": lock_key, "holder": holder.holder, "run_id": holder.run_id},
                                **base,
                            ),
                        ],
                    )
                else:
                    stored = self.stored_args(inv)
                    run_id = run_store.insert_run(
                        conn,
                        inv,
                        state,
                        lock_key=lock_key,
                        timeout=inv.command.timeout,
                        stored_args=stored,
                        started=reserved,
                        shown_text=self._clean(inv.shown_text()),
                    )
                    if lock_key:
                        run_store.set_lock_run(conn, lock_key, run_id)
                    self.audit.append_many(
                        conn,
                        [
                            dataclasses.replace(received_record, run_id=run_id),
                            *(dataclasses.replace(row, run_id=run_id) for row in trail),
                            AuditRecord(
                                action="decision",
                                run_id=run_id,
                                summary=f"allowed: {decision.reason}",
                                detail={"allowed": True, "rules": list(decision.rule_ids)},
                                **base,
                            ),
                            AuditRecord(
                                action="run.started" if reserved else f"run.{state.value}",
                                run_id=run_id,
                                summary=f"run #{run_id} {'started' if reserved else state.value}",
                                detail={"args": stored, "lock": lock_key},
                                **base,
                            ),
                        ],
                    )
        except BaseException:
            if reserved:  # the run was not written: give its slot back
                self.runs.unreserve()
            raise
        if refusal:
            if reserved:
                self.runs.unreserve()
            metrics.COMMANDS.labels(inv.command.name, "locked").inc()
            await self.reply(place, Message.plain(refusal, "warning"))
            return None
        if initial == RunState.QUEUED:
            if self.defer is not None and await self.defer(run_id, inv):
                return run_id  # a worker of any replica claims and runs it
            self.start_run(run_id, inv, reserved=reserved)
        return run_id

    @staticmethod
    def _take_lock(conn: Any, key: str, holder: str) -> run_store.LockHolder | None:
        """Take ``key`` for ``holder``; returns who holds it when it is taken already. The
        insert itself decides (a savepoint catches the clash), so two replicas racing for one
        lock cannot both win."""
        try:
            with conn.begin_nested():
                run_store.take_lock(conn, key, None, holder)
            return None
        except IntegrityError:
            return run_store.lock_holder(conn, key) or run_store.LockHolder(key, None, "someone", run_store.utcnow())

    def start_run(self, run_id: int, inv: Invocation, *, reserved: bool = False) -> None:
        spec = inv.command
        runner = self.parts.runners[spec.name]
        ctx = RunContext(
            run_id=run_id,
            command=spec.name,
            args=dict(inv.args),
            user=inv.principal.name,
            channel=inv.place.name,
            timeout=spec.timeout,
            dry_run=bool(inv.flags.get("dry_run")),
            options=dict(spec.runner.options) if spec.runner else {},
            extras=self.parts.extras,
        )
        self.reporter.track(run_id, inv)
        self.runs.start(
            run_id,
            runner,
            ctx,
            self.reporter,
            lock_key=self.lock_key(inv),
            output_max_chars=spec.output_max_chars,
            audit_fields={"platform": inv.place.platform, "channel": inv.place.name, "command": spec.name},
            reserved=reserved,
        )

    async def on_run_finished(
        self, run_id: int, outcome: RunOutcome, inv: Invocation, ref: MessageRef | None = None
    ) -> None:
        """Metrics, then the command's hooks (another command, or a provider action)."""
        metrics.COMMANDS.labels(inv.command.name, outcome.state.value).inc()
        metrics.RUN_SECONDS.labels(inv.command.name).observe(outcome.duration)
        if inv.flags.get("dry_run"):
            return
        hooks = (
            inv.command.on_success
            if outcome.state == RunState.SUCCEEDED
            else (inv.command.on_failure if outcome.state in (RunState.FAILED, RunState.TIMED_OUT) else ())
        )
        for hook in hooks:
            await self._run_hook(run_id, outcome, inv, hook, ref)

    async def _run_hook(
        self, run_id: int, outcome: RunOutcome, inv: Invocation, hook: Any, ref: MessageRef | None
    ) -> None:
        from opsroom.commands.parser import parse

        thread_place = ref.thread_place if ref is not None else inv.place
        audit_base: dict[str, Any] = {
            "platform": inv.place.platform,
            "channel": inv.place.name,
            "command": inv.command.name,
        }
        try:
            if hook.command:
                text = hook.command.format_map({k: str(v) for k, v in inv.args.items()})
                chained = parse(text, self.parts.catalog, inv.principal, inv.place, engine_flags=self.engine_flags)
                with self.db.begin() as conn:
                    self.audit.append(
                        conn,
                        actor=inv.principal.name,
                        action="hook",
                        run_id=run_id,
                        summary=f"hook: chained `{chained.canonical()}`",
                        detail={"hook": "command", "text": text},
                        **audit_base,
                    )
                await self.dispatch(chained, via=f"hook of run #{run_id}")
                return
            audit_ids = tuple(e.id for e in self.audit.for_run(run_id))
            factory = self.parts.actions.get(hook.action)
            if factory is None:
                known = ", ".join(sorted(self.parts.actions)) or "none"
                raise ConfigError(f"unknown hook action {hook.action!r} (known: {known})")
            action = factory(hook.options)
            result = await action(
                HookContext(
                    run_id=run_id,
                    command=inv.command.name,
                    args=inv.shown_args(),
                    user=inv.principal.name,
                    platform=inv.place.platform,
                    channel=inv.place.name,
                    outcome=outcome.state.value,
                    exit_code=outcome.exit_code,
                    output_tail=outcome.output[-2000:],
                    thread_link=self.thread_link(inv.place, ref),
                    audit_ids=audit_ids,
                    raw_text=inv.shown_text(),
                    options=dict(hook.options),
                )
            )
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=inv.principal.name,
                    action="hook",
                    run_id=run_id,
                    summary=f"hook {hook.action}: {result}",
                    detail={"hook": hook.action, "result": result},
                    **audit_base,
                )
            await self.reply(thread_place, Message.plain(f"↪ {result}", "info"))
        except (OpsroomError, Exception) as exc:  # a failing hook is reported, never fatal
            log.exception("hook_failed", run_id=run_id)
            message, _ = self.redactor(str(exc))
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=inv.principal.name,
                    action="hook.failed",
                    run_id=run_id,
                    summary=f"hook failed: {message}",
                    detail={"hook": hook.action or hook.command},
                    **audit_base,
                )
            await self.reply(thread_place, Message.plain(f"↪ hook failed: {message}", "warning"))

    # -- buttons ----------------------------------------------------------------------------
    async def _on_action(self, event: ActionEvent) -> None:
        principal = self.principal_for(event.place.platform, event.sender_id, event.sender_email)
        audit_base: dict[str, Any] = {"platform": event.place.platform, "channel": event.place.name}
        try:
            kind, payload, nonce, single_use = self.signer.open(event.action_id)
        except ActionError as exc:  # forged or expired: refused, and on the record
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=principal.name,
                    action="action.rejected",
                    summary=f"button refused: {exc}",
                    detail={"refused": True, "reason": str(exc)},
                    **audit_base,
                )
            await self._answer_action(event, Message.plain(str(exc), "warning"))
            return
        handler = self.actions.get(kind)
        if handler is None:
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=principal.name,
                    action="action.rejected",
                    summary=f"button {kind} refused: it no longer does anything",
                    detail={"refused": True, "reason": "unknown kind", "kind": kind},
                    **audit_base,
                )
            await self._answer_action(event, Message.plain("That button no longer does anything.", "warning"))
            return
        if single_use and not self._first_delivery(f"action:{nonce}", event.place.platform):
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=principal.name,
                    action="action.replayed",
                    summary=f"button {kind} refused: already used",
                    detail={"kind": kind, "refused": True, "reason": "already used"},
                    **audit_base,
                )
            await self._answer_action(event, Message.plain("That button was already used.", "warning"))
            return
        answer = await handler(ActionRequest(kind, payload, principal, event, nonce))
        if single_use and answer is not None and answer.tone == "denied":
            # Refused clicks do not use the button up: its rightful users can still click it.
            self._forget_delivery(f"action:{nonce}")
        if answer is not None:
            await self._answer_action(event, answer)

    async def _answer_action(self, event: ActionEvent, message: Message) -> None:
        """Answer the clicker: ephemerally where the platform can, else in the thread."""
        adapter = self.chat.get(event.place.platform)
        if adapter.capabilities.ephemeral:
            message = dataclasses.replace(message, ephemeral_to=event.sender_id)
        place = (
            event.message.thread_place if event.message is not None and adapter.capabilities.threads else event.place
        )
        await self.reply(place, message)

    def authorize_action(self, principal: Principal, action: str, args: Mapping[str, Any], place: Place) -> Decision:
        """Buttons are authorized like typed commands: the policy action is the button kind's
        command (``cancel`` for run.cancel, ``alert.ack``…)."""
        decision: Decision = self.parts.policy.decide(principal, action, args, place)
        return decision

    async def audit_denied_click(self, req: ActionRequest, permission: str, decision: Decision) -> None:
        place = req.event.place
        with self.db.begin() as conn:
            self.audit.append(
                conn,
                actor=req.principal.name,
                action="action.denied",
                platform=place.platform,
                channel=place.name,
                summary=f"{req.principal.name} may not {permission}: {decision.reason}",
                detail={"kind": req.kind, "rules": list(decision.rule_ids)},
            )

    async def _action_cancel(self, req: ActionRequest) -> Message | None:
        return await self.cancel_run(int(req.payload["run"]), req.principal, req.event.place)

    async def _action_command(self, req: ActionRequest) -> Message | None:
        """A button that types a command for you (diagnostics on an alert): the normal path,
        policy included, as the person who clicked."""
        from opsroom.commands.parser import parse

        place = req.event.place
        if req.event.message is not None and self.chat.get(place.platform).capabilities.threads:
            place = req.event.message.thread_place  # the run's output goes under the alert, not below it
        try:
            inv = parse(
                str(req.payload["text"]), self.parts.catalog, req.principal, place, engine_flags=self.engine_flags
            )
        except ParseError as exc:
            return Message.plain(str(exc), "warning")
        await self.dispatch(inv, via="button")
        return None

    async def cancel_run(self, run_id: int, principal: Principal, place: Place) -> Message:
        with self.db.read() as conn:
            run = run_store.get_run(conn, run_id)
        if run is None:
            return Message.plain(f"There is no run #{run_id}.", "warning")
        # Your own run you may always cancel; someone else's needs the `cancel` permission.
        if run.user != principal.name:
            decision = self.authorize_action(principal, "cancel-others", {"run": run_id}, place)
            if not decision.allowed:
                with self.db.begin() as conn:
                    self.audit.append(
                        conn,
                        actor=principal.name,
                        action="cancel.denied",
                        run_id=run_id,
                        command=run.command,
                        platform=place.platform,
                        channel=place.name,
                        summary=f"denied: {decision.reason}",
                        detail={"rules": list(decision.rule_ids)},
                    )
                return Message.plain(f"⛔ You may not cancel run #{run_id} (started by {run.user}).", "denied")
        if not lifecycle.is_active(run.state):  # a refusal, on the record like the others
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=principal.name,
                    action="cancel.refused",
                    run_id=run_id,
                    command=run.command,
                    platform=place.platform,
                    channel=place.name,
                    summary=f"cancel of run #{run_id} refused: it already ended ({run.state.value})",
                    detail={"refused": True, "reason": f"run is {run.state.value}"},
                )
            return Message.plain(f"Run #{run_id} already ended ({run.state.value}).", "info")
        with self.db.begin() as conn:
            self.audit.append(
                conn,
                actor=principal.name,
                action="run.cancel_requested",
                run_id=run_id,
                command=run.command,
                platform=place.platform,
                channel=place.name,
                summary=f"{principal.name} cancelled run #{run_id}",
            )
        if self.runs.cancel(run_id, principal.name):
            return Message.plain(f"🛑 Cancelling run #{run_id}…", "warning")
        if (
            run.state == RunState.RUNNING
            and self.cancel_elsewhere is not None
            and self.cancel_elsewhere(run, principal.name)
        ):  # its replica stops it, then ends it and frees its lock
            return Message.plain(f"🛑 Cancelling run #{run_id} (it runs on another replica)…", "warning")
        # Not running in this process (waiting for approval, or started elsewhere): end it here.
        with self.db.begin() as conn:
            lifecycle.move(
                conn,
                run_id,
                run.state,
                RunState.CANCELLED,
                audit=self.audit,
                record=None,
                lock_key=run.lock_key,
                finished_at=run_store.utcnow(),
                error=f"cancelled by {principal.name}",
            )
        return Message.plain(f"🛑 Run #{run_id} cancelled.", "warning")

    # -- lifecycle --------------------------------------------------------------------------
    async def recover(self, only: Callable[[run_store.RunRow], bool] | None = None) -> list[int]:
        """Runs still marked running or queued when we start were cut off by a stop or a
        crash: end their processes that are still alive, then mark them ``interrupted``,
        free their locks, and tell their threads. In that order: a lock is freed only once
        nothing of its run is running any more (runs/orphans.py). ``only``: in cluster mode,
        the runs of dead replicas (a live neighbour's runs are its own business)."""

        def cut_off_runs(conn: Any) -> list[run_store.RunRow]:
            found = run_store.list_runs(conn, limit=10_000, states=[RunState.RUNNING, RunState.QUEUED])
            return [r for r in found if only is None or only(r)]

        with self.db.read() as conn:
            cut_off = cut_off_runs(conn)
        ended = set(await orphans.end_orphans(cut_off))
        with self.db.begin() as conn:
            stale = cut_off_runs(conn)
            for run in stale:
                record = AuditRecord(
                    actor="opsroom",
                    action="run.interrupted",
                    run_id=run.id,
                    command=run.command,
                    platform=run.platform,
                    channel=run.channel_name,
                    summary=f"run #{run.id} interrupted: opsroom restarted while it was {run.state.value}",
                )
                lifecycle.move(
                    conn,
                    run.id,
                    run.state,
                    RunState.INTERRUPTED,
                    audit=self.audit,
                    record=record,
                    lock_key=run.lock_key,
                    finished_at=run_store.utcnow(),
                    error="opsroom stopped while this run was in progress",
                )
        for run in stale:
            place = Place(run.platform, run.channel, run.thread, channel_name=run.channel_name)
            try:  # with Retry (as the clicker, through policy) and Mark failed buttons
                await self.reply(place, interrupted.notice(self, run, stopped=run.id in ended))
            except LookupError:
                log.warning("interrupted_run_platform_missing", run_id=run.id, platform=run.platform)
            except Exception:
                log.exception("interrupted_notice_failed", run_id=run.id)
        return [r.id for r in stale]

    def thread_link(self, place: Place, ref: MessageRef | None) -> str:
        """Where a run's thread is, for tickets and notices: the web chat's URL when opsroom
        has a public URL, else platform, channel and message id."""
        message = ref.message_id if ref is not None else ""
        if self.public_url and place.platform == "web":
            root = (ref.place.thread if ref is not None else None) or message
            return f"{self.public_url.rstrip('/')}/chat/{place.channel}?thread={root}#m{message}"
        return f"{place.platform} {place.name} message {message}".strip()

    def _clean(self, text: str) -> str:
        return self.redactor(text)[0]


def _to_asker(message: Message) -> Message:
    """Marks an answer meant for the person who typed (help, look-ups, errors, denials).
    Adapters that can answer one person privately where they typed (Slack's and
    Mattermost's command responses) do; the others post it as before."""
    return dataclasses.replace(message, extra={**message.extra, "audience": "asker"})
