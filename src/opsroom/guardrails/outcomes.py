"""How a held run leaves its hold: released (everything granted: policy asked again, then
queued and started), ended (denied, changed, expired: state, lock and audit row in one
transaction, and the thread told), or expired by the sweeper."""

from __future__ import annotations

import datetime as dt

import structlog

from opsroom.audit import AuditRecord
from opsroom.core import Invocation, Message, RunState
from opsroom.core.message import Tone
from opsroom.guardrails import approvals as book
from opsroom.guardrails.asking import WAITING, HoldRequests, run_place
from opsroom.policy.requirements import APPROVAL, CONFIRMATION
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store

log = structlog.get_logger("opsroom.guardrails")


class HoldOutcomes(HoldRequests):
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
            place = run_place(run)
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
