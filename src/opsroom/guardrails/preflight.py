"""The ``pre-flight`` pipeline step: just before the hold step asks anyone to confirm or
approve, the command's runner may run its cheap check (``runs/runners/preflight.py``); a
refusal ends the command at once with the runner's sentence, so approvers are never asked
for a run that can only fail.

Live, every command whose runner declares a check runs it (dry runs excepted). A check
(``opsroom policy check``, ``POST /api/check``) runs it too when it has a database — it is
read-only by contract — and notes "not checked" when offline. A refusal writes one audit row
(``preflight.refused``) and no run, so it never counts against a rate limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsroom.engine.pipeline import Step, StepContext, Stop

RUNNERS = "runs.runners"  # Services.extras key: {command name: Runner}
OFFLINE = "pre-flight: not checked (no database)"


async def preflight(ctx: StepContext) -> Stop | None:
    inv = ctx.invocation
    if inv.flags.get("dry_run"):
        return None
    runners: Mapping[str, Any] = ctx.services.extras.get(RUNNERS) or {}
    check = getattr(runners.get(inv.command.name), "preflight", None)
    if check is None or not getattr(runners[inv.command.name], "preflight_argv", True):
        return None
    if not ctx.live and ctx.services.read is None:
        ctx.notes.append(OFFLINE)
        return None
    refusal = await check(dict(inv.args))
    if not refusal:
        return None
    shown = ctx.services.redact(inv.shown_text())
    clean = ctx.services.redact(refusal)
    record = ctx.record("preflight.refused", f"pre-flight refused: {clean}", detail={"text": shown})
    return Stop(
        "deny", f"⛔ `{shown}` would not work: {clean}. Nothing was run and nobody was asked.", "denied", (record,)
    )


STEP = Step("pre-flight", preflight)
