"""Holds: runs that wait for a confirmation or approvals, and break-glass announcements.

The pipeline's steps (``engine.steps``: break-glass, freeze, rate limit, hold) decide what a
command needs; when it got through with something to wait for, the engine writes the run
(state ``awaiting_confirmation`` / ``awaiting_approval``) and hands it here (``held``). The
hold lives in the database (guardrails/tables.py), so it survives a restart; once granted the
run is rebuilt from its row, checked against the fingerprint it was requested with, policy is
asked again, and it is started through the host.

The guardrails talk to the rest of opsroom only through ``GuardrailHost`` (a typed protocol
the engine satisfies): never the engine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Mapping, Protocol

import structlog

from opsroom.actions import ActionRequest
from opsroom.audit import AuditRecord
from opsroom.clock import utcnow
from opsroom.config.guardrails import GuardrailsConfig
from opsroom.core import (
    Context,
    Decision,
    Fields,
    Invocation,
    Message,
    MessageRef,
    Place,
    Principal,
    Requirement,
    RunState,
    Section,
)
from opsroom.core.message import Tone
from opsroom.guardrails import approvals as book
from opsroom.guardrails import notify, requests
from opsroom.guardrails.freezes import FreezeBook, parse_freeze
from opsroom.guardrails.ratelimit import RateLimiter
from opsroom.policy.requirements import (
    APPROVAL,
    CONFIRMATION,
    typed_target,
)
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.actions import ActionSigner
    from opsroom.audit import AuditLog
    from opsroom.chat.base import ChatHub
    from opsroom.store import Database

log = structlog.get_logger("opsroom.guardrails")
UTC = dt.UTC
WAITING = lifecycle.WAITING


class GuardrailHost(Protocol):
    """What the guardrails need from their host (the engine), and nothing more."""

    db: Database
    audit: AuditLog
    chat: ChatHub
    signer: ActionSigner

    @property
    def parts(self) -> Any: ...  # EngineParts: catalog, directory

    def decide(self, inv: Invocation) -> Decision: ...

    def start_run(self, run_id: int, inv: Invocation, *, reserved: bool = False) -> None: ...

    def authorize_action(
        self, principal: Principal, action: str, args: Mapping[str, Any], place: Place
    ) -> Decision: ...

    async def reply(self, place: Place, message: Message) -> MessageRef: ...

    def _clean(self, text: str) -> str: ...


class Guardrails:
    def __init__(self, config: GuardrailsConfig, host: GuardrailHost, *, channels: Any = (), clock: Any = None) -> None:
        self.config = config
        self.channels = list(channels)  # ChannelConfig: where the break-glass channel lives
        self.freezes = FreezeBook(config.freezes)
        self.limiter = RateLimiter(config.rate_limits)
        self.clock = clock or utcnow
        self.engine = host
        self._invocations: dict[int, Invocation] = {}  # runs held by this process
        self._sweeper: asyncio.Task[None] | None = None
        self.leads: Callable[[], bool] = lambda: True  # cluster mode: the leader gate (app.py)

    def actions(self) -> dict[str, Any]:
        """The buttons of approval and confirmation requests, by kind."""
        return {
            "approval.approve": self._button_approve,
            "approval.deny": self._button_deny,
            "run.confirm": self._button_confirm,
        }

    async def start(self) -> None:
        """Expire what lapsed while we were down, then keep sweeping."""
        if self.leads():
            await self.expire_due()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="guardrails-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            if not self.leads():  # cluster mode: the leader expires holds, for everyone
                continue
            try:
                await self.expire_due()
            except Exception:
                log.exception("expiry_sweep_failed")

    def reconfigure(self, config: GuardrailsConfig, channels: Any = ()) -> None:
        """A config reload: new freezes, limits and break-glass settings; holds stay."""
        self.config = config
        self.channels = list(channels)
        self.freezes = FreezeBook(config.freezes)
        self.limiter = RateLimiter(config.rate_limits)

    @property
    def _engine(self) -> GuardrailHost:
        return self.engine

    def _audit(
        self,
        conn: Any,
        actor: str,
        action: str,
        summary: str,
        *,
        place: Place,
        command: str = "",
        run_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self._engine.audit.append(
            conn,
            actor=actor,
            action=action,
            run_id=run_id,
            command=command,
            platform=place.platform,
            channel=place.name,
            summary=summary,
            detail=dict(detail or {}),
        )

    # -- after the pipeline -------------------------------------------------------------------
    async def held(
        self,
        inv: Invocation,
        run_id: int,
        needs: Sequence[Requirement],
        *,
        break_glass: str | None = None,
        freeze: str = "",
        overridden: Sequence[Requirement] = (),
    ) -> None:
        """The engine wrote run ``run_id`` in the state the hold step chose: announce a
        break-glass loudly, then ask for what it waits for."""
        now = self.clock()
        if break_glass is not None:
            await self._announce_break_glass(inv, run_id, break_glass, freeze, list(overridden))
        confirms = [r for r in needs if r.kind == CONFIRMATION]
        approvals = [r for r in needs if r.kind == APPROVAL]
        if confirms:
            self._invocations[run_id] = inv
            await self._hold(inv, run_id, CONFIRMATION, confirms + approvals, now)
        elif approvals:
            self._invocations[run_id] = inv
            await self._hold(inv, run_id, APPROVAL, approvals, now)

    async def _announce_break_glass(
        self, inv: Invocation, run_id: int, reason: str, freeze: str, overridden: list[Requirement]
    ) -> None:
        engine = self._engine
        bypassed = [f"freeze {freeze}"] if freeze else []
        bypassed += [f"approval ({r.detail})" for r in overridden]
        bypass_text = ", ".join(bypassed) or "nothing (no freeze or approval was in the way)"
        summary = f"🚨 BREAK-GLASS by {inv.principal.name}: run #{run_id} `{inv.canonical()}` — {reason}"
        with engine.db.begin() as conn:
            self._audit(
                conn,
                inv.principal.name,
                "break-glass",
                f"{summary} (overrides {bypass_text})",
                place=inv.place,
                command=inv.command.name,
                run_id=run_id,
                detail={"reason": reason, "overrides": bypassed, "break_glass": True},
            )
        loud = Message(
            f"BREAK-GLASS: run #{run_id} by {inv.principal.name}",
            (
                Section(summary),
                Fields((("overrides", bypass_text), ("where", f"{inv.place.platform} {inv.place.name}"))),
                Context("every break-glass use is in the audit: `audit break-glass`"),
            ),
            tone="warning",
        )
        await engine.reply(inv.place, loud)
        target = self._break_glass_place(inv.place)
        if target is not None and (target.platform, target.channel) != (
            inv.place.platform,
            inv.place.channel,
        ):
            try:
                await engine.reply(target, loud)
            except Exception:  # the run goes on; the audit row above is the record
                log.exception("break_glass_post_failed", run_id=run_id)

    def _break_glass_place(self, origin: Place) -> Place | None:
        name = self.config.break_glass.channel
        if not name:
            return None
        platform = self.config.break_glass.platform or origin.platform
        found = next((c for c in self.channels if c.name == name and (c.platform == platform or not c.id)), None)
        channel_id = found.id if found is not None and found.id else name.lstrip("#")
        return Place(platform, channel_id, channel_name=name)

    async def _hold(self, inv: Invocation, run_id: int, kind: str, reqs: list[Requirement], now: dt.datetime) -> None:
        engine = self._engine
        if kind == CONFIRMATION:
            expires = self.config.confirmations_expire_seconds
        else:
            expires = min(r.expires for r in reqs if r.kind == APPROVAL) or 1800
        expires_at = now + dt.timedelta(seconds=expires)
        with engine.db.begin() as conn:
            book.create_hold(
                conn,
                run_id=run_id,
                kind=kind,
                fingerprint=inv.fingerprint(),
                requester=inv.principal.name,
                requirements=reqs,
                flags=dict(inv.flags),
                now=now,
                expires_at=expires_at,
            )
            action = "approval.requested" if kind == APPROVAL else "confirmation.requested"
            needs = " and ".join(r.detail for r in reqs if r.kind == APPROVAL) or "confirmation"
            self._audit(
                conn,
                inv.principal.name,
                action,
                f"run #{run_id} waits for {needs}",
                place=inv.place,
                command=inv.command.name,
                run_id=run_id,
                detail={
                    "fingerprint": inv.fingerprint(),
                    "expires_at": expires_at.isoformat(),
                    "rules": sorted({r.rule_id for r in reqs}),
                },
            )
        hold = book.Hold(
            run_id,
            kind,
            book.PENDING,
            inv.fingerprint(),
            inv.principal.name,
            tuple(reqs),
            dict(inv.flags),
            now,
            expires_at,
        )
        approvers = notify.eligible_approvers(engine.parts.directory, hold, inv.principal) if kind == APPROVAL else []
        message = (
            self._confirm_message(inv, hold, now)
            if kind == CONFIRMATION
            else requests.approval_message(inv, hold, now, "0 so far", engine.signer.mint, approvers)
        )
        ref = await engine.reply(inv.place, message)
        with engine.db.begin() as conn:  # so the request can be settled in place later
            run_store.set_values(conn, hold.run_id, progress_message_id=ref.message_id)
        if approvers:
            link = notify.request_link(ref, str(getattr(engine, "public_url", "") or ""))
            await notify.tell_approvers(engine.chat, inv.place, approvers, notify.direct_message(inv, run_id, link))

    def _approval_message(self, inv: Invocation, hold: book.Hold, now: dt.datetime, progress: str) -> Message:
        return requests.approval_message(inv, hold, now, progress, self._engine.signer.mint)

    def _confirm_message(self, inv: Invocation, hold: book.Hold, now: dt.datetime) -> Message:
        return requests.confirm_message(inv, hold, now, self._engine.signer.mint)

    # -- rebuilding a held run ---------------------------------------------------------------------
    def invocation_for(self, run: run_store.RunRow, hold: book.Hold) -> Invocation | None:
        """The held Invocation: from memory, else rebuilt from its row (after a restart).
        None when the command no longer exists."""
        inv = self._invocations.get(run.id)
        if inv is not None:
            return inv
        engine = self._engine
        spec = engine.parts.catalog.get(run.command)
        if spec is None:
            return None
        principal = engine.parts.directory.get(run.user) or Principal(run.user, known=False)
        place = Place(
            run.platform,
            run.channel,
            run.thread,
            is_direct=run.channel_name == "dm",
            channel_name=run.channel_name,
        )
        return Invocation(
            command=spec,
            args=dict(run.args),
            raw_text=run.raw_text,
            principal=principal,
            place=place,
            flags=dict(hold.flags),
        )

    def _requester(self, name: str) -> Principal | None:
        found: Principal | None = self._engine.parts.directory.get(name)
        return found

    # -- approving -----------------------------------------------------------------------------------
    async def approve(
        self,
        run_id: int,
        principal: Principal,
        place: Place,
        *,
        via: str = "command",
        fingerprint: str | None = None,
    ) -> Message | None:
        engine, now = self._engine, self.clock()
        with engine.db.read() as conn:
            run = run_store.get_run(conn, run_id)
            hold = book.get_hold(conn, run_id, APPROVAL)
            confirm_hold = book.get_hold(conn, run_id, CONFIRMATION)
        answer = self._not_waiting(run_id, run, hold, confirm_hold, RunState.AWAITING_APPROVAL)
        if answer is not None:
            return self._refused("approval", run_id, run, principal, place, via, answer)
        assert run is not None and hold is not None
        if hold.expires_at <= now:
            await self._expire(hold, now)
            return self._refused(
                "approval",
                run_id,
                run,
                principal,
                place,
                via,
                Message.plain(f"⌛ Run #{run_id} expired before it was approved.", "warning"),
                reason="expired",
            )
        requester = self._requester(hold.requester)
        refused = self._refuse_vote(run, hold, principal, place, fingerprint, "approval", via)
        if refused is not None:
            return refused
        inv = self.invocation_for(run, hold)
        if inv is None or inv.fingerprint() != hold.fingerprint:
            await self._end(
                run,
                hold,
                RunState.DENIED,
                principal.name,
                f"run #{run_id} changed since approval was requested (the command or its "
                "arguments are not what was asked for); nothing runs — ask again",
            )
            return Message.plain(
                f"⛔ Run #{run_id} is not the command that was requested any more; it was ended. Ask again.",
                "denied",
            )
        assert inv is not None
        with engine.db.begin() as conn:
            if not book.add_vote(conn, run_id, principal.name, "approve", hold.fingerprint, "", now):
                self._audit(
                    conn,
                    principal.name,
                    "approval.refused",
                    f"approval of run #{run_id} refused: {principal.name} already voted",
                    place=place,
                    command=run.command,
                    run_id=run_id,
                    detail={"via": via},
                )
                return Message.plain(f"You already voted on run #{run_id}; one vote per person.", "warning")
            votes = book.votes_for(conn, run_id)
            result = book.tally(hold, votes, engine.parts.directory, requester)
            self._audit(
                conn,
                principal.name,
                "approval.approved",
                f"{principal.name} approved run #{run_id} ({result.progress})",
                place=place,
                command=run.command,
                run_id=run_id,
                detail={"via": via, "fingerprint": hold.fingerprint, "progress": result.progress},
            )
            if result.satisfied:
                granted = book.close_hold(conn, run_id, APPROVAL, "approved", principal.name, now)
        if not result.satisfied:
            await self._post(
                self._in_request_thread(inv, run),
                Message.plain(
                    f"👍 {principal.label} approved run #{run_id} — {result.progress}; waiting for more.",
                    "info",
                ),
            )
            return None  # the thread was told above
        if not granted:  # another approver's vote settled it first
            return self._refused(
                "approval",
                run_id,
                run,
                principal,
                place,
                via,
                Message.plain(f"Run #{run_id} was already decided.", "info"),
                reason="already decided",
            )
        return await self._release(
            inv,
            run,
            f"✅ run #{run_id} approved by {', '.join(result.approvers)} — starting.",
            principal.name,
        )

    async def deny(
        self,
        run_id: int,
        principal: Principal,
        place: Place,
        reason: str,
        *,
        via: str = "command",
        fingerprint: str | None = None,
    ) -> Message | None:
        engine, now = self._engine, self.clock()
        with engine.db.read() as conn:
            run = run_store.get_run(conn, run_id)
            hold = book.get_hold(conn, run_id, APPROVAL)
        answer = self._not_waiting(run_id, run, hold, None, RunState.AWAITING_APPROVAL)
        if answer is not None:
            return self._refused("denial", run_id, run, principal, place, via, answer)
        assert run is not None and hold is not None
        refused = self._refuse_vote(run, hold, principal, place, fingerprint, "denial", via)
        if refused is not None:
            return refused
        reason = " ".join(engine._clean(reason).split())[:300]
        if not reason:  # a denial always says why: the requester reads it and the audit keeps it
            return Message.plain(
                f"Say why you deny run #{run_id}: `deny {run_id} REASON` "
                "(the requester sees it, and it is audited). Nothing changed.",
                "warning",
            )
        with engine.db.begin() as conn:
            book.add_vote(conn, run_id, principal.name, "deny", hold.fingerprint, reason, now)
        text = f"run #{run_id} denied by {principal.name}" + (f": {reason}" if reason else "")
        await self._end(run, hold, RunState.DENIED, principal.name, text, action="approval.denied")
        return None  # the thread was told by _end

    async def confirm(
        self, run_id: int, principal: Principal, place: Place, typed: str = "", *, via: str = "command"
    ) -> Message | None:
        engine, now = self._engine, self.clock()
        with engine.db.read() as conn:
            run = run_store.get_run(conn, run_id)
            hold = book.get_hold(conn, run_id, CONFIRMATION)
        answer = self._not_waiting(run_id, run, hold, None, RunState.AWAITING_CONFIRMATION)
        if answer is not None:
            return self._refused("confirmation", run_id, run, principal, place, via, answer)
        assert run is not None and hold is not None
        if hold.expires_at <= now:
            await self._expire(hold, now)
            return self._refused(
                "confirmation",
                run_id,
                run,
                principal,
                place,
                via,
                Message.plain(f"⌛ Run #{run_id} expired before it was confirmed.", "warning"),
                reason="expired",
            )
        if principal.name != hold.requester:
            with engine.db.begin() as conn:
                self._audit(
                    conn,
                    principal.name,
                    "confirmation.refused",
                    f"{principal.name} tried to confirm run #{run_id} of {hold.requester}",
                    place=place,
                    command=run.command,
                    run_id=run_id,
                    detail={"via": via},
                )
            return Message.plain(f"⛔ Only {hold.requester} can confirm run #{run_id}.", "denied")
        inv = self.invocation_for(run, hold)
        if inv is None or inv.fingerprint() != hold.fingerprint:
            await self._end(
                run,
                hold,
                RunState.DENIED,
                principal.name,
                f"run #{run_id} changed since it was requested; nothing runs — ask again",
            )
            return Message.plain(f"⛔ Run #{run_id} changed since it was requested; ask again.", "denied")
        requirement = next(r for r in hold.requirements if r.kind == CONFIRMATION)
        target = typed_target(requirement, inv.command, dict(inv.args))
        if target is not None and typed.strip() != target[1]:
            with engine.db.begin() as conn:
                self._audit(
                    conn,
                    principal.name,
                    "confirmation.mismatch",
                    f"run #{run_id}: typed confirmation did not match the {target[0]}",
                    place=place,
                    command=run.command,
                    run_id=run_id,
                )
            hint = "" if via == "command" else " (type it; a button cannot confirm this one)"
            return Message.plain(f"That does not match: type `confirm {run_id} {target[1]}` exactly{hint}.", "warning")
        with engine.db.begin() as conn:
            if not book.close_hold(conn, run_id, CONFIRMATION, "confirmed", principal.name, now):
                self._audit(
                    conn,
                    principal.name,
                    "confirmation.refused",
                    f"confirmation of run #{run_id} refused: already confirmed",
                    place=place,
                    command=run.command,
                    run_id=run_id,
                    detail={"via": via, "refused": True, "reason": "already confirmed"},
                )
                return Message.plain(f"Run #{run_id} was already confirmed.", "info")
            self._audit(
                conn,
                principal.name,
                "confirmation.confirmed",
                f"run #{run_id} confirmed",
                place=place,
                command=run.command,
                run_id=run_id,
                detail={"via": via},
            )
            if hold.approvals:
                lifecycle.move(
                    conn,
                    run_id,
                    RunState.AWAITING_CONFIRMATION,
                    RunState.AWAITING_APPROVAL,
                    audit=engine.audit,
                    record=None,
                )
        if hold.approvals:
            await self._hold(inv, run_id, APPROVAL, list(hold.approvals), now)
            return None  # the approval request was posted
        return await self._release(inv, run, f"▶️ run #{run_id} confirmed — starting.", principal.name)

    def _not_waiting(
        self,
        run_id: int,
        run: run_store.RunRow | None,
        hold: book.Hold | None,
        other: book.Hold | None,
        state: RunState,
    ) -> Message | None:
        if run is None:
            return Message.plain(f"There is no run #{run_id}.", "warning")
        if hold is not None and hold.state == book.PENDING and run.state == state:
            return None
        if other is not None and other.state == book.PENDING:
            return Message.plain(f"Run #{run_id} must be confirmed by {run.user} first.", "warning")
        if run.state in WAITING or run.state == RunState.QUEUED or hold is None:
            what = "approval" if state == RunState.AWAITING_APPROVAL else "confirmation"
            return Message.plain(
                f"Run #{run_id} is not waiting for {what} (it is {run.state.value.replace('_', ' ')}).",
                "info",
            )
        return Message.plain(f"Run #{run_id} is already {run.state.value.replace('_', ' ')}.", "info")

    async def _release(self, inv: Invocation, run: run_store.RunRow, text: str, actor: str) -> Message | None:
        """Everything granted: re-check policy (it may have changed while we waited), then
        queue and start the run."""
        engine = self._engine
        decision = engine.decide(inv)
        if not decision.allowed:
            await self._end(run, None, RunState.DENIED, actor, f"run #{run.id} is no longer allowed: {decision.reason}")
            return Message.plain(f"⛔ Run #{run.id} is no longer allowed: {decision.reason}", "denied")
        with engine.db.begin() as conn:
            current = run_store.get_run(conn, run.id)
            if current is None or current.state not in WAITING:
                return Message.plain(f"Run #{run.id} is {current.state.value if current else 'gone'}.", "info")
            lifecycle.move(
                conn,
                run.id,
                current.state,
                RunState.QUEUED,
                audit=engine.audit,
                record=AuditRecord(
                    actor=actor,
                    action="run.queued",
                    summary=f"run #{run.id} queued after its guardrails",
                    platform=inv.place.platform,
                    channel=inv.place.name,
                    command=inv.command.name,
                    run_id=run.id,
                ),
            )
        self._invocations.pop(run.id, None)
        if not await self._settle(current, text, "success"):  # one message says it, once
            await self._post(inv, Message.plain(text, "success"))
        # The run's progress goes in the request's thread: the channel keeps one line per request.
        engine.start_run(run.id, self._in_request_thread(inv, current))
        return None  # the thread was told above

    def _in_request_thread(self, inv: Invocation, run: run_store.RunRow) -> Invocation:
        """``inv`` placed in the thread of its request message, where the platform has threads."""
        if not run.progress_message_id or inv.place.thread:
            return inv
        try:
            threads = self._engine.chat.get(inv.place.platform).capabilities.threads
        except Exception:  # noqa: BLE001 - no such adapter (console): stay where it was asked
            return inv
        if not threads:
            return inv
        return dataclasses.replace(inv, place=inv.place.in_thread(run.progress_message_id))

    async def _end(
        self,
        run: run_store.RunRow,
        hold: book.Hold | None,
        state: RunState,
        actor: str,
        text: str,
        *,
        action: str = "",
    ) -> None:
        """End a held run (denied, expired): state, lock, audit, and tell the thread."""
        engine, now = self._engine, self.clock()
        with engine.db.begin() as conn:
            current = run_store.get_run(conn, run.id)
            if current is None or current.state not in WAITING:
                return
            if hold is not None:
                book.close_hold(conn, run.id, hold.kind, state.value, actor, now)
            for kind in (APPROVAL, CONFIRMATION):
                book.close_hold(conn, run.id, kind, "cancelled", actor, now)
            place = Place(
                run.platform,
                run.channel,
                run.thread,
                is_direct=run.channel_name == "dm",
                channel_name=run.channel_name,
            )
            record = AuditRecord(
                actor=actor,
                action=action or f"run.{state.value}",
                summary=text,
                platform=place.platform,
                channel=place.name,
                command=run.command,
                run_id=run.id,
            )
            lifecycle.move(
                conn,
                run.id,
                current.state,
                state,
                audit=engine.audit,
                record=record,
                lock_key=current.lock_key,
                finished_at=now,
                error=text,
            )
        self._invocations.pop(run.id, None)
        icon = "⌛" if state == RunState.EXPIRED else "⛔"
        tone: Tone = "warning" if state == RunState.EXPIRED else "denied"
        if await self._settle(current, f"{icon} {text}", tone):
            return  # the request now says how it ended: one message, not two
        try:
            await engine.reply(place, Message.plain(f"{icon} {text}", tone))
        except Exception:
            log.exception("hold_end_post_failed", run_id=run.id)

    def _refused(
        self,
        vote: str,
        run_id: int,
        run: run_store.RunRow | None,
        principal: Principal,
        place: Place,
        via: str,
        answer: Message,
        *,
        reason: str = "",
    ) -> Message:
        """A vote or confirmation that cannot count (no such run, ended, expired, settled):
        audited as a refusal with its reason, then answered (issue 11: before, approving a
        finished run left only the built-in's "allowed" decision row)."""
        reason = reason or ("no such run" if run is None else f"run is {run.state.value}")
        action = "confirmation.refused" if vote == "confirmation" else "approval.refused"
        with self._engine.db.begin() as conn:
            self._audit(
                conn,
                principal.name,
                action,
                f"{vote} of run #{run_id} refused: {reason}",
                place=place,
                command=run.command if run is not None else "",
                run_id=run_id if run is not None else None,
                detail={"via": via, "refused": True, "reason": reason, "run": run_id},
            )
        return answer

    def _refuse_vote(
        self,
        run: run_store.RunRow,
        hold: book.Hold,
        principal: Principal,
        place: Place,
        fingerprint: str | None,
        vote: str,
        via: str,
    ) -> Message | None:
        """Whether this person may vote on this request at all (approver, not the requester,
        the button's command); a refusal is audited and answered."""
        why_not = book.refusal(principal, hold, self._requester(hold.requester))
        if why_not is None and fingerprint is not None and not hold.fingerprint.startswith(fingerprint):
            why_not = f"that button was for a different command than run #{run.id}"
        if why_not is None:
            return None
        with self._engine.db.begin() as conn:
            self._audit(
                conn,
                principal.name,
                "approval.refused",
                f"{vote} of run #{run.id} refused: {why_not}",
                place=place,
                command=run.command,
                run_id=run.id,
                detail={"via": via},
            )
        return Message.plain(f"⛔ {why_not}.", "denied")

    async def _settle(self, run: run_store.RunRow, outcome: str, tone: Tone) -> bool:
        """Edit the approval/confirmation request in place once it is decided: its buttons
        go, and whoever scrolls up sees how it ended. False when it could not be edited."""
        if not run.progress_message_id:
            return False
        place = Place(
            run.platform, run.channel, run.thread, is_direct=run.channel_name == "dm", channel_name=run.channel_name
        )
        settled = Message(
            outcome, (Section(f"🗳️ run #{run.id}: `{run.raw_text}` — requested by {run.user}"), Section(outcome)), tone
        )
        try:
            await self._engine.chat.update(MessageRef(place, run.progress_message_id), settled)
        except Exception:
            log.exception("request_settle_failed", run_id=run.id)
            return False
        return True

    async def _post(self, inv: Invocation, message: Message) -> None:
        try:
            await self._engine.reply(inv.place, message)
        except Exception:
            log.exception("guardrails_post_failed")

    async def _expire(self, hold: book.Hold, now: dt.datetime) -> None:
        engine = self._engine
        with engine.db.read() as conn:
            run = run_store.get_run(conn, hold.run_id)
        if run is None:
            return
        what = "approval" if hold.kind == APPROVAL else "confirmation"
        minutes = int((hold.expires_at - hold.created_at).total_seconds() // 60)
        text = (
            f"run #{run.id} (`{run.raw_text}` by {run.user}) expired: no {what} within "
            f"{minutes}m. Nothing ran; ask again if it is still needed."
        )
        if run.state not in WAITING:  # ended otherwise (cancelled): just close the hold
            with engine.db.begin() as conn:
                book.close_hold(conn, hold.run_id, hold.kind, "cancelled", "opsroom", now)
            return
        await self._end(run, hold, RunState.EXPIRED, "opsroom", text, action=f"{what}.expired")

    async def expire_due(self, now: dt.datetime | None = None) -> list[int]:
        """End every hold whose time is up (state ``expired``, the thread told)."""
        now = now or self.clock()
        with self._engine.db.read() as conn:
            due = book.pending_holds(conn, due_before=now)
        for hold in due:
            await self._expire(hold, now)
        return [h.run_id for h in due]

    # -- lists -------------------------------------------------------------------------------------
    def waiting_for(
        self, principal: Principal
    ) -> tuple[list[tuple[book.Hold, run_store.RunRow]], list[tuple[book.Hold, run_store.RunRow]]]:
        """(runs this person may approve now, their own runs waiting)."""
        engine = self._engine
        mine: list[tuple[book.Hold, run_store.RunRow]] = []
        theirs: list[tuple[book.Hold, run_store.RunRow]] = []
        with engine.db.read() as conn:
            for hold in book.pending_holds(conn):
                run = run_store.get_run(conn, hold.run_id)
                if run is None or run.state not in WAITING:
                    continue
                if hold.requester == principal.name:
                    mine.append((hold, run))
                elif hold.kind == APPROVAL and book.refusal(principal, hold, self._requester(hold.requester)) is None:
                    voted = {v.voter for v in book.votes_for(conn, hold.run_id)}
                    if principal.name not in voted:
                        theirs.append((hold, run))
        return theirs, mine

    # -- buttons -----------------------------------------------------------------------------------
    def _authorized(self, req: ActionRequest, action: str, run_id: int) -> Message | None:
        engine = self._engine
        decision = engine.authorize_action(req.principal, action, {"id": run_id}, req.event.place)
        if decision.allowed:
            return None
        with engine.db.begin() as conn:
            self._audit(
                conn,
                req.principal.name,
                "action.denied",
                f"button {req.kind} denied: {decision.reason}",
                place=req.event.place,
                run_id=run_id,
                detail={"rules": list(decision.rule_ids)},
            )
        return Message.plain(f"⛔ {decision.reason}", "denied")

    async def _button_approve(self, req: ActionRequest) -> Message | None:
        run_id = int(req.payload["run"])
        return self._authorized(req, "approve", run_id) or await self.approve(
            run_id, req.principal, req.event.place, via="button", fingerprint=str(req.payload.get("fp", ""))
        )

    async def _button_deny(self, req: ActionRequest) -> Message | None:
        run_id = int(req.payload["run"])
        return self._authorized(req, "deny", run_id) or await self.deny(
            run_id,
            req.principal,
            req.event.place,
            req.event.value,
            via="button",
            fingerprint=str(req.payload.get("fp", "")),
        )

    async def _button_confirm(self, req: ActionRequest) -> Message | None:
        run_id = int(req.payload["run"])
        return self._authorized(req, "confirm", run_id) or await self.confirm(
            run_id, req.principal, req.event.place, via="button"
        )

    # -- freezes from chat -------------------------------------------------------------------------
    async def freeze_command(self, principal: Principal, place: Place, text: str) -> Message:
        engine, now = self._engine, self.clock()
        request = parse_freeze(text, now, self.freezes.tz)
        tz = self.freezes.tz
        if request.action == "list":
            with engine.db.read() as conn:
                active = self.freezes.list_active(conn, now)
            if not active:
                return Message.plain("No change freeze is in force.")
            lines = [
                f"❄️ *{f.name}* until {f.until_text(tz)} — "
                f"{', '.join(cmds) if cmds else 'every command that changes something'}"
                f"{' · by ' + f.created_by if f.created_by else ' · from config'}"
                for f, cmds in active
            ]
            return Message(f"{len(active)} freezes in force", (Section("\n".join(lines)),))
        if request.action == "off":
            with engine.db.begin() as conn:
                lifted = self.freezes.lift(conn, request.name, principal.name, now)
                if lifted:
                    self._audit(
                        conn,
                        principal.name,
                        "freeze.lifted",
                        f"freeze {request.name} lifted",
                        place=place,
                        command="freeze",
                    )
            if not lifted:
                return Message.plain(
                    f"No freeze named {request.name!r} was switched on from chat "
                    "(configured freezes change in opsroom.yaml).",
                    "warning",
                )
            return Message.plain(f"☀️ Freeze *{request.name}* lifted by {principal.label}.", "success")
        unknown = [c for c in request.commands if engine.parts.catalog.get(c) is None]
        if unknown:
            return Message.plain(f"There is no command {', '.join(f'`{c}`' for c in unknown)}.", "warning")
        commands = [engine.parts.catalog.get(c).name for c in request.commands]
        assert request.ends_at is not None
        with engine.db.begin() as conn:
            self.freezes.switch_on(conn, request.name, request.ends_at, commands, principal.name, now)
            until = request.ends_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")
            self._audit(
                conn,
                principal.name,
                "freeze.on",
                f"freeze {request.name} on until {until}",
                place=place,
                command="freeze",
                detail={"commands": commands, "until": request.ends_at.isoformat()},
            )
        covered = ", ".join(f"`{c}`" for c in commands) or "every command that changes something"
        return Message.plain(
            f"❄️ Freeze *{request.name}* is on until {until}: {covered} refused (break-glass overrides, loudly).",
            "warning",
        )
