"""Held runs: what the guardrails keep about them and how a hold is asked for.

A run that waits (``awaiting_confirmation`` / ``awaiting_approval``) has a hold row
(guardrails/tables.py) and one request message in chat: the confirmation or approval request
with its buttons. This module posts that request, rebuilds a held ``Invocation`` from its row
after a restart, and edits the request in place once it is decided. Deciding (votes.py) and
ending or releasing (outcomes.py) build on it; ``holds.Guardrails`` is the facade.

The guardrails talk to the rest of opsroom only through ``GuardrailHost`` (a typed protocol
the engine satisfies): never the engine itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from opsroom.config.guardrails import GuardrailsConfig
from opsroom.core import (
    Decision,
    Invocation,
    Message,
    MessageRef,
    Place,
    Principal,
    Requirement,
    Section,
)
from opsroom.core.message import Tone
from opsroom.guardrails import approvals as book
from opsroom.guardrails import notify, requests
from opsroom.policy.requirements import APPROVAL, CONFIRMATION
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from opsroom.actions import ActionSigner
    from opsroom.audit import AuditLog
    from opsroom.chat.base import ChatHub
    from opsroom.commands.catalog import Catalog
    from opsroom.store import Database

log = structlog.get_logger("opsroom.guardrails")
WAITING = lifecycle.WAITING


class HostParts(Protocol):
    @property
    def catalog(self) -> Catalog: ...

    @property
    def directory(self) -> book.People: ...


class GuardrailHost(Protocol):
    """What the guardrails need from their host (the engine), and nothing more."""

    db: Database
    audit: AuditLog
    chat: ChatHub
    signer: ActionSigner

    public_url: str

    @property
    def parts(self) -> HostParts: ...

    def decide(self, inv: Invocation) -> Decision: ...

    def start_run(self, run_id: int, inv: Invocation, *, reserved: bool = False) -> None: ...

    def authorize_action(
        self, principal: Principal, action: str, args: Mapping[str, Any], place: Place
    ) -> Decision: ...

    async def reply(self, place: Place, message: Message) -> MessageRef: ...

    def _clean(self, text: str) -> str: ...


def run_place(run: run_store.RunRow) -> Place:
    """Where a run was asked for, from its row."""
    return Place(
        run.platform, run.channel, run.thread, is_direct=run.channel_name == "dm", channel_name=run.channel_name
    )


class HoldRequests:
    """The state of the holds this process keeps, and the request messages."""

    config: GuardrailsConfig
    engine: GuardrailHost
    clock: Callable[[], dt.datetime]
    _invocations: dict[int, Invocation]  # runs held by this process

    @property
    def _engine(self) -> GuardrailHost:
        return self.engine

    def audit_row(
        self,
        conn: Connection,
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
            self.audit_row(
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
            requests.confirm_message(inv, hold, now, engine.signer.mint)
            if kind == CONFIRMATION
            else requests.approval_message(inv, hold, now, "0 so far", engine.signer.mint, approvers)
        )
        ref = await engine.reply(inv.place, message)
        with engine.db.begin() as conn:  # so the request can be settled in place later
            run_store.set_values(conn, hold.run_id, progress_message_id=ref.message_id)
        if approvers:
            link = notify.request_link(ref, engine.public_url)
            await notify.tell_approvers(engine.chat, inv.place, approvers, notify.direct_message(inv, run_id, link))

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
        place = run_place(run)
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

    def _in_request_thread(self, inv: Invocation, run: run_store.RunRow) -> Invocation:
        """``inv`` placed in the thread of its request message, where the platform has threads."""
        if not run.progress_message_id or inv.place.thread:
            return inv
        try:
            threads = self._engine.chat.get(inv.place.platform).capabilities.threads
        except LookupError:  # no such adapter (console): stay where it was asked
            return inv
        if not threads:
            return inv
        return dataclasses.replace(inv, place=inv.place.in_thread(run.progress_message_id))

    async def _settle(self, run: run_store.RunRow, outcome: str, tone: Tone) -> bool:
        """Edit the approval/confirmation request in place once it is decided: its buttons
        go, and whoever scrolls up sees how it ended. False when it could not be edited."""
        if not run.progress_message_id:
            return False
        place = run_place(run)
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
