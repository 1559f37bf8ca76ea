"""Buttons: a click's signed token is opened (forged, expired, replayed or unknown ones are
refused on the record), then its kind's handler runs; cancelling a run (a button or
`/cancel`) is authorized like a command."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from opsroom.actions import ActionError, ActionRequest
from opsroom.core import ActionEvent, Decision, Message, ParseError, Place, Principal, RunState
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store
from opsroom.store.tables import processed_events

if TYPE_CHECKING:
    from opsroom.engine.core import Engine


async def on_action(engine: Engine, event: ActionEvent) -> None:
    principal = engine.principal_for(event.place.platform, event.sender_id, event.sender_email)
    audit_base: dict[str, Any] = {"platform": event.place.platform, "channel": event.place.name}
    try:
        kind, payload, nonce, single_use = engine.signer.open(event.action_id)
    except ActionError as exc:  # forged or expired: refused, and on the record
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=principal.name,
                action="action.rejected",
                summary=f"button refused: {exc}",
                detail={"refused": True, "reason": str(exc)},
                **audit_base,
            )
        await answer_action(engine, event, Message.plain(str(exc), "warning"))
        return
    handler = engine.actions.get(kind)
    if handler is None:
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=principal.name,
                action="action.rejected",
                summary=f"button {kind} refused: it no longer does anything",
                detail={"refused": True, "reason": "unknown kind", "kind": kind},
                **audit_base,
            )
        await answer_action(engine, event, Message.plain("That button no longer does anything.", "warning"))
        return
    if single_use and not first_delivery(engine, f"action:{nonce}", event.place.platform):
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=principal.name,
                action="action.replayed",
                summary=f"button {kind} refused: already used",
                detail={"kind": kind, "refused": True, "reason": "already used"},
                **audit_base,
            )
        await answer_action(engine, event, Message.plain("That button was already used.", "warning"))
        return
    answer = await handler(ActionRequest(kind, payload, principal, event, nonce))
    if single_use and answer is not None and answer.tone == "denied":
        # Refused clicks do not use the button up: its rightful users can still click it.
        forget_delivery(engine, f"action:{nonce}")
    if answer is not None:
        await answer_action(engine, event, answer)


async def answer_action(engine: Engine, event: ActionEvent, message: Message) -> None:
    """Answer the clicker: ephemerally where the platform can, else in the thread."""
    adapter = engine.chat.get(event.place.platform)
    if adapter.capabilities.ephemeral:
        message = dataclasses.replace(message, ephemeral_to=event.sender_id)
    place = event.message.thread_place if event.message is not None and adapter.capabilities.threads else event.place
    await engine.reply(place, message)


async def audit_denied_click(engine: Engine, req: ActionRequest, permission: str, decision: Decision) -> None:
    place = req.event.place
    with engine.db.begin() as conn:
        engine.audit.append(
            conn,
            actor=req.principal.name,
            action="action.denied",
            platform=place.platform,
            channel=place.name,
            summary=f"{req.principal.name} may not {permission}: {decision.reason}",
            detail={"kind": req.kind, "rules": list(decision.rule_ids)},
        )


async def action_cancel(engine: Engine, req: ActionRequest) -> Message | None:
    return await cancel_run(engine, int(req.payload["run"]), req.principal, req.event.place)


async def action_command(engine: Engine, req: ActionRequest) -> Message | None:
    """A button that types a command for you (diagnostics on an alert): the normal path,
    policy included, as the person who clicked."""
    from opsroom.commands.parser import parse

    place = req.event.place
    if req.event.message is not None and engine.chat.get(place.platform).capabilities.threads:
        place = req.event.message.thread_place  # the run's output goes under the alert, not below it
    try:
        inv = parse(
            str(req.payload["text"]), engine.parts.catalog, req.principal, place, engine_flags=engine.engine_flags
        )
    except ParseError as exc:
        return Message.plain(str(exc), "warning")
    await engine.dispatch(inv, via="button")
    return None


async def cancel_run(engine: Engine, run_id: int, principal: Principal, place: Place) -> Message:
    with engine.db.read() as conn:
        run = run_store.get_run(conn, run_id)
    if run is None:
        return Message.plain(f"There is no run #{run_id}.", "warning")
    # Your own run you may always cancel; someone else's needs the `cancel` permission.
    if run.user != principal.name:
        decision = engine.authorize_action(principal, "cancel-others", {"run": run_id}, place)
        if not decision.allowed:
            with engine.db.begin() as conn:
                engine.audit.append(
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
        with engine.db.begin() as conn:
            engine.audit.append(
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
    with engine.db.begin() as conn:
        engine.audit.append(
            conn,
            actor=principal.name,
            action="run.cancel_requested",
            run_id=run_id,
            command=run.command,
            platform=place.platform,
            channel=place.name,
            summary=f"{principal.name} cancelled run #{run_id}",
        )
    if engine.runs.cancel(run_id, principal.name):
        return Message.plain(f"🛑 Cancelling run #{run_id}…", "warning")
    if (
        run.state == RunState.RUNNING
        and engine.cancel_elsewhere is not None
        and engine.cancel_elsewhere(run, principal.name)
    ):  # its replica stops it, then ends it and frees its lock
        return Message.plain(f"🛑 Cancelling run #{run_id} (it runs on another replica)…", "warning")
    # Not running in this process (waiting for approval, or started elsewhere): end it here.
    with engine.db.begin() as conn:
        lifecycle.move(
            conn,
            run_id,
            run.state,
            RunState.CANCELLED,
            audit=engine.audit,
            record=None,
            lock_key=run.lock_key,
            finished_at=run_store.utcnow(),
            error=f"cancelled by {principal.name}",
        )
    return Message.plain(f"🛑 Run #{run_id} cancelled.", "warning")


def first_delivery(engine: Engine, event_id: str, platform: str) -> bool:
    try:
        with engine.db.begin() as conn:
            conn.execute(
                insert(processed_events).values(event_id=event_id[:200], platform=platform, seen_at=run_store.utcnow())
            )
        return True
    except IntegrityError:
        return False


def forget_delivery(engine: Engine, event_id: str) -> None:
    with engine.db.begin() as conn:
        conn.execute(delete(processed_events).where(processed_events.c.event_id == event_id[:200]))
