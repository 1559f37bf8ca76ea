"""The checklist card of a runbook run: every step with its state, who moved it and how, and
buttons for the step that waits (Run for a command, Done for a check, Skip for both). Each
button types ``runbook-step N STEP …`` through the engine's ``command.run`` button, so a
click is authorized and audited like the typed command (its text is the fallback where a
platform has no buttons)."""

from __future__ import annotations

from collections.abc import Callable

from opsroom.core import Actions, Button, Context, Message, Section
from opsroom.core.message import Block, Tone
from opsroom.runbooks.model import Runbook
from opsroom.runbooks.store import RunbookRun

ICONS = {"pending": "▫️", "waiting": "👉", "starting": "⏳", "running": "⏳", "ok": "✅", "failed": "❌", "skipped": "⏭️"}
TONES: dict[str, Tone] = {"active": "running", "succeeded": "success", "failed": "failure", "cancelled": "warning"}


def render_card(book: Runbook, run: RunbookRun, mint: Callable[..., str]) -> Message:
    lines = []
    waiting = None
    for row in run.steps:
        step = book.steps[row.position]
        what = f"`{step.text}`" if step.kind == "command" else step.text
        who = f" — {row.note}" if row.note else ""
        lines.append(f"{ICONS.get(row.state, '')} [{step.id}] {what}{who}")
        if row.state == "waiting" and waiting is None:
            waiting = step
    done = sum(1 for r in run.steps if r.state in ("ok", "failed", "skipped"))
    head = f"📘 *{book.title}* · runbook run #{run.id} · {run.state} · {done}/{len(run.steps)} steps"
    blocks: list[Block] = [Section(head), Section("\n".join(lines))]
    if waiting is not None and run.state == "active":
        base = f"runbook-step {run.id} {waiting.id}"
        first = ("Run", "run") if waiting.kind == "command" else ("Done", "done")
        buttons = tuple(
            Button(
                label,
                mint("command.run", {"text": f"{base} {do}"}),
                "primary" if do == first[1] else "default",
                fallback=f"/{base} {do}",
            )
            for label, do in (first, ("Skip", "skip"))
        )
        blocks.append(Actions(buttons))
    inputs = " ".join(f"{k}={v}" for k, v in run.inputs.items() if v != "") or "no inputs"
    blocks.append(Context(f"started by {run.started_by} · {inputs} · {book.path.name} @ {run.digest[:12]}"))
    return Message(head, tuple(blocks), TONES.get(run.state, "info"))
