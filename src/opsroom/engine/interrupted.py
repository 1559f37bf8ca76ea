"""A run cut off by a restart or by a dead replica: what its thread is told, and its two
buttons. Nothing is ever retried on its own (a deploy cut off half way needs a human look):

- **Retry** types the run's command again as the person who clicks, through the whole
  pipeline (policy, approvals, locks) — the ``command.run`` button. Not offered for a
  command with secret arguments: those are never stored, so they must be typed again.
- **Mark failed** records the human verdict: the run moves ``interrupted → failed`` with an
  audit row naming who decided. Allowed to the run's owner, or with ``cancel-others``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsroom.actions import ActionRequest
from opsroom.audit import AuditRecord
from opsroom.core import Actions, Button, Message, RunState, Section
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.engine.core import Engine

MARK_FAILED = "run.mark_failed"


def notice(engine: Engine, run: run_store.RunRow, *, stopped: bool) -> Message:
    text = (
        f"⚠️ run #{run.id} (`{run.raw_text}` by {run.user}) was interrupted by a restart; nothing was retried."
        + (" Its process was still running and has been stopped." if stopped else "")
        + " Check the target before running it again."
    )
    buttons: list[Button] = []
    spec = engine.parts.catalog.get(run.command)
    if spec is not None and not any(a.secret for a in spec.args):
        buttons.append(
            Button("Retry", engine.signer.mint("command.run", {"text": run.raw_text}), "primary", run.raw_text)
        )
    buttons.append(Button("Mark failed", engine.signer.mint(MARK_FAILED, {"run": run.id}), "danger"))
    return Message(text=text, blocks=(Section(text), Actions(tuple(buttons))), tone="warning")


async def mark_failed(engine: Engine, req: ActionRequest) -> Message | None:
    run_id = int(req.payload["run"])
    place = req.event.place
    with engine.db.read() as conn:
        run = run_store.get_run(conn, run_id)
    if run is None:
        return Message.plain(f"There is no run #{run_id}.", "warning")
    if run.user != req.principal.name:
        decision = engine.authorize_action(req.principal, "cancel-others", {"run": run_id}, place)
        if not decision.allowed:
            await engine.audit_denied_click(req, "cancel-others", decision)
            # "denied" leaves the button usable by those who may click it (engine._on_action)
            return Message.plain(f"Only {run.user} or someone allowed to cancel others' runs may do that.", "denied")
    if run.state != RunState.INTERRUPTED:
        return Message.plain(f"Run #{run_id} is {run.state.value}; nothing to mark.", "warning")
    record = AuditRecord(
        actor=req.principal.name,
        action="run.marked_failed",
        run_id=run_id,
        command=run.command,
        platform=place.platform,
        channel=place.name,
        summary=f"run #{run_id} marked failed by {req.principal.name} after it was interrupted",
    )
    with engine.db.begin() as conn:
        current = run_store.get_run(conn, run_id)
        if current is None or current.state != RunState.INTERRUPTED:  # another click or replica was first
            return None
        lifecycle.move(
            conn,
            run_id,
            RunState.INTERRUPTED,
            RunState.FAILED,
            audit=engine.audit,
            record=record,
            error=f"interrupted; marked failed by {req.principal.name}",
        )
    return Message.plain(f"Run #{run_id} marked failed by {req.principal.name}.", "info")


def actions() -> dict[str, Any]:
    return {MARK_FAILED: mark_failed}
