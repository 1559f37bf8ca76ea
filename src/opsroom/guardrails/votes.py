"""Deciding a hold: approve, deny, confirm — from the command, a button or the console.

A vote counts only from someone who may approve (not the requester, the right role or team),
once, for the exact command that was requested (its fingerprint); a confirmation only from
the requester, with the target typed when the rule asks for it. Every refusal is audited
with its reason and answered.
"""

from __future__ import annotations

from opsroom.core import Message, Place, Principal, RunState
from opsroom.guardrails import approvals as book
from opsroom.guardrails.asking import WAITING
from opsroom.guardrails.outcomes import HoldOutcomes
from opsroom.policy.requirements import APPROVAL, CONFIRMATION, typed_target
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store


class HoldVotes(HoldOutcomes):
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
                self.audit_row(
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
            self.audit_row(
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
                self.audit_row(
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
                self.audit_row(
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
                self.audit_row(
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
            self.audit_row(
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
            self.audit_row(
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
            self.audit_row(
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
