"""The guardrails' facade: runs that wait for a confirmation or approvals, and break-glass
announcements.

The pipeline's steps (``engine.steps``: break-glass, freeze, rate limit, hold) decide what a
command needs; when it got through with something to wait for, the engine writes the run
(state ``awaiting_confirmation`` / ``awaiting_approval``) and hands it here (``held``). The
hold lives in the database (guardrails/tables.py), so it survives a restart; once granted the
run is rebuilt from its row, checked against the fingerprint it was requested with, policy is
asked again, and it is started through the host.

By job: asking.py (the request messages, the host protocol), votes.py (approve, deny,
confirm), outcomes.py (release, end, expiry); here the parts the engine and the pipeline
see (config, freezes, limiter, the sweeper, buttons, lists).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import structlog

from opsroom.actions import ActionHandler, ActionRequest
from opsroom.clock import utcnow
from opsroom.config.guardrails import GuardrailsConfig
from opsroom.core import Context, Fields, Invocation, Message, Place, Principal, Requirement, Section
from opsroom.guardrails import approvals as book
from opsroom.guardrails.asking import WAITING, GuardrailHost
from opsroom.guardrails.freezes import FreezeBook
from opsroom.guardrails.ratelimit import RateLimiter
from opsroom.guardrails.votes import HoldVotes
from opsroom.policy.requirements import APPROVAL, CONFIRMATION
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.config.models import ChannelConfig

__all__ = ["GuardrailHost", "Guardrails"]

log = structlog.get_logger("opsroom.guardrails")


class Guardrails(HoldVotes):
    def __init__(
        self,
        config: GuardrailsConfig,
        host: GuardrailHost,
        *,
        channels: Iterable[ChannelConfig] = (),
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.config = config
        self.channels = list(channels)  # ChannelConfig: where the break-glass channel lives
        self.freezes = FreezeBook(config.freezes)
        self.limiter = RateLimiter(config.rate_limits)
        self.clock = clock or utcnow
        self.engine = host
        self._invocations: dict[int, Invocation] = {}  # runs held by this process
        self._sweeper: asyncio.Task[None] | None = None
        self.leads: Callable[[], bool] = lambda: True  # cluster mode: the leader gate (app.py)

    def actions(self) -> dict[str, ActionHandler]:
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

    def reconfigure(self, config: GuardrailsConfig, channels: Iterable[ChannelConfig] = ()) -> None:
        """A config reload: new freezes, limits and break-glass settings; holds stay."""
        self.config = config
        self.channels = list(channels)
        self.freezes = FreezeBook(config.freezes)
        self.limiter = RateLimiter(config.rate_limits)

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
            self.audit_row(
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
                Fields((("overrides", bypass_text), ("where", inv.place.spoken))),
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
            self.audit_row(
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
