"""Shows a run in chat: one progress message, edited in place as the run goes (a thread
reply where the platform cannot edit), then the final status with duration and exit code.
The progress message is posted once the run first waits for something; a run that was over
by then (a function that answered at once) gets its final message alone.
Long output is cut in chat; all of it stays in the database (``/run 42``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog

from opsroom.chat.base import ChatHub
from opsroom.clock import elapsed as fmt_duration
from opsroom.core import (
    Actions,
    Button,
    Code,
    Context,
    Invocation,
    Message,
    MessageRef,
    RunState,
    Section,
)
from opsroom.runs.service import LiveRun, RunOutcome

log = structlog.get_logger("opsroom.reporter")

ICONS = {
    RunState.QUEUED: "🕓",
    RunState.RUNNING: "⏳",
    RunState.SUCCEEDED: "✅",
    RunState.FAILED: "❌",
    RunState.CANCELLED: "🛑",
    RunState.TIMED_OUT: "⌛",
    RunState.INTERRUPTED: "⚠️",
    RunState.DENIED: "⛔",
    RunState.EXPIRED: "⌛",
    RunState.AWAITING_APPROVAL: "🗳️",
    RunState.AWAITING_CONFIRMATION: "❓",
}
TONES: dict[RunState, Any] = {
    RunState.SUCCEEDED: "success",
    RunState.FAILED: "failure",
    RunState.TIMED_OUT: "failure",
    RunState.INTERRUPTED: "warning",
    RunState.CANCELLED: "warning",
    RunState.RUNNING: "running",
    RunState.QUEUED: "running",
    RunState.DENIED: "denied",
    RunState.EXPIRED: "warning",
}


def tail(text: str, max_chars: int, max_lines: int) -> tuple[str, bool]:
    text = text.rstrip("\n")
    if len(text) <= max_chars and text.count("\n") < max_lines:
        return text, False  # all of it fits (most runs' output): no split and join
    lines = text.split("\n")
    cut = len(lines) > max_lines
    lines = lines[-max_lines:]
    out = "\n".join(lines)
    if len(out) > max_chars:
        out, cut = out[-max_chars:], True
    return out, cut


class _NextTurn:
    """``_Tracked.posting`` of a run whose progress message is due on the loop's next turn."""


_NEXT_TURN = _NextTurn()


@dataclass
class _Tracked:
    inv: Invocation
    ref: MessageRef | None = None
    last_edit: float = 0.0
    # A throttled edit: the timer until it is due, then the task making it.
    pending: asyncio.TimerHandle | asyncio.Task[None] | None = None
    # The progress message: _NEXT_TURN until the loop's next turn, then the task posting it.
    posting: _NextTurn | asyncio.Task[None] | None = None
    missed: LiveRun | None = None  # progress that came while the progress message was on its way
    cancel_action: str = ""  # signed when the progress message is built (a folded run never needs it)
    extra: dict[str, Any] = field(default_factory=dict)
    described: str = ""  # inv.describe(), once for both messages


class Reporter:
    """The RunObserver that talks to chat. ``mint`` signs button action ids."""

    def __init__(
        self,
        chat: ChatHub,
        mint: Callable[..., str],
        *,
        edit_interval: float = 1.0,
        chat_output_chars: int = 1500,
        chat_output_lines: int = 25,
        on_message_posted: Callable[[int, MessageRef], None] | None = None,
        on_finished: Callable[[int, RunOutcome, Invocation, MessageRef | None], Any] | None = None,
    ) -> None:
        self.chat = chat
        self.mint = mint
        self.edit_interval = edit_interval
        self.chat_output_chars = chat_output_chars
        self.chat_output_lines = chat_output_lines
        self.on_message_posted = on_message_posted
        self.on_finished = on_finished
        self._runs: dict[int, _Tracked] = {}
        # Runs whose progress message is due on the loop's next turn: one callback for all the
        # runs started in a turn (with 20 at once most turns start several) instead of one each.
        self._due: list[tuple[int, _Tracked, LiveRun]] = []
        self._due_loop: asyncio.AbstractEventLoop | None = None  # the loop that will call it

    def track(self, run_id: int, inv: Invocation) -> None:
        self._runs[run_id] = _Tracked(inv, described=inv.describe())

    def _header(self, run_id: int, t: _Tracked, state: RunState) -> str:
        described = t.described or t.inv.describe()
        return f"{ICONS.get(state, '')} {described} · run #{run_id} · {state.value.replace('_', ' ')}"

    def _running_message(self, run_id: int, t: _Tracked, live: LiveRun | None) -> Message:
        blocks: list[Any] = [Section(self._header(run_id, t, RunState.RUNNING))]
        if live is not None:
            recent, _ = tail("".join(live.output), 600, 6)
            if live.last_progress:
                blocks.append(Section(live.last_progress))
            elif recent:
                blocks.append(Code(recent))
            elapsed = time.monotonic() - live.started
            blocks.append(Context(f"by {t.inv.principal.label} · {fmt_duration(elapsed)} so far"))
        else:
            blocks.append(Context(f"by {t.inv.principal.label}"))
        if not t.cancel_action:
            t.cancel_action = self.mint("run.cancel", {"run": run_id})
        blocks.append(Actions((Button("Cancel", t.cancel_action, "danger", f"/cancel {run_id}"),)))
        return Message(f"run #{run_id} running: {t.inv.command.name}", tuple(blocks), tone="running")

    async def run_started(self, run_id: int, live: LiveRun | None = None) -> None:
        """The run's runner starts now. Its progress message is posted on the loop's next
        turn, i.e. once the run first waits for something: a run whose runner ended before
        then (an in-process function that answered at once) is shown by its final message
        alone, one message instead of a "running" message edited a moment later. Without
        ``live`` (nothing to tell whether it ended) the message is posted at once."""
        t = self._runs.get(run_id)
        if t is None:
            return
        if live is None:
            await self._post_progress(run_id, t)
            return
        t.posting = _NEXT_TURN
        loop = asyncio.get_running_loop()
        if self._due_loop is not loop:  # none scheduled yet on this loop (a closed one never ran it)
            self._due = []
            self._due_loop = loop
            loop.call_soon(self._progress_due)
        self._due.append((run_id, t, live))

    def _progress_due(self) -> None:
        due, self._due, self._due_loop = self._due, [], None
        for run_id, t, live in due:
            if t.posting is not _NEXT_TURN:
                continue  # ended already (run_finished let go of it): its final message is the only one
            t.posting = None
            if live.finishing or self._runs.get(run_id) is not t:
                continue  # ended already: its final message is the only one
            t.posting = asyncio.create_task(self._post_progress(run_id, t))

    async def _post_progress(self, run_id: int, t: _Tracked) -> None:
        try:
            t.ref = await self.chat.send(t.inv.place, self._running_message(run_id, t, None))
            t.last_edit = time.monotonic()
            if self.on_message_posted is not None:
                self.on_message_posted(run_id, t.ref)
        except Exception:  # chat trouble must never break the run itself
            log.exception("progress_post_failed", run_id=run_id)
            return
        missed, t.missed = t.missed, None
        if missed is not None and self._runs.get(run_id) is t:
            await self.run_progress(run_id, missed)  # shown by the next (throttled) edit

    async def run_progress(self, run_id: int, live: LiveRun) -> None:
        t = self._runs.get(run_id)
        if t is None:
            return
        if t.ref is None:
            if t.posting is not None:
                t.missed = live  # the progress message is on its way: edited once it is there
            return
        # Throttle edits: at most one per edit_interval; the latest state wins.
        wait = t.last_edit + self.edit_interval - time.monotonic()
        if wait > 0:
            if t.pending is None or (isinstance(t.pending, asyncio.Task) and t.pending.done()):
                # A timer, not a sleeping task: most runs end before it is due, and cancelling
                # a timer costs nothing where a task costs two more turns of the loop.
                t.pending = asyncio.get_running_loop().call_later(wait, self._edit_due, t, run_id, live)
            return
        await self._edit(run_id, live)

    def _edit_due(self, t: _Tracked, run_id: int, live: LiveRun) -> None:
        t.pending = None
        if run_id in self._runs and live.run_id in _alive(live):
            t.pending = asyncio.create_task(self._edit(run_id, live))

    async def _edit(self, run_id: int, live: LiveRun) -> None:
        t = self._runs.get(run_id)
        if t is None or t.ref is None:
            return
        t.last_edit = time.monotonic()
        try:
            t.ref = await self.chat.update(t.ref, self._running_message(run_id, t, live))
        except Exception:
            log.exception("progress_edit_failed", run_id=run_id)

    def final_message(self, run_id: int, inv: Invocation, outcome: RunOutcome) -> Message:
        t = self._runs.get(run_id) or _Tracked(inv)
        state = outcome.state
        # The small print, written as it grows: "by alice · 0.4s · exit 0 · output cut — …"
        small = f"by {inv.principal.label} · {fmt_duration(outcome.duration)}"
        if outcome.exit_code is not None:
            small += f" · exit {outcome.exit_code}"
        blocks: list[Any] = [Section(self._header(run_id, t, state))]
        if outcome.error:
            blocks.append(Section(outcome.error))
        if outcome.result:
            blocks.append(Section(outcome.result))
        if outcome.output.strip():
            shown, cut = tail(outcome.output, self.chat_output_chars, self.chat_output_lines)
            blocks.append(Code(shown))
            if cut:
                small += f" · output cut — full output: /run {run_id}"
        blocks.append(Context(small))
        # "final" tells adapters this is a run's last word (Slack shows it in the channel too
        # when the run lives in a thread).
        return Message(
            f"run #{run_id} {state.value}: {inv.command.name}",
            tuple(blocks),
            tone=TONES.get(state, "info"),
            extra={"final": "true"},
        )

    async def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        t = self._runs.get(run_id)
        if t is None:
            return
        if isinstance(t.posting, asyncio.Task):
            # The progress message is on its way: the final message edits it, not a second one.
            await asyncio.wait((t.posting,))
        elif t.posting is not None:
            t.posting = None  # due on the next turn: not needed any more (_progress_due skips it)
        if t.pending is not None:
            t.pending.cancel()  # a timer not yet due, or an edit still under way
        # Built while still tracked (final_message reads what track noted), then forgotten;
        # nothing awaits in between.
        message = self.final_message(run_id, t.inv, outcome)
        del self._runs[run_id]
        try:
            if t.ref is not None:
                await self.chat.update(t.ref, message)
            else:
                t.ref = await self.chat.send(t.inv.place, message)
        except Exception:
            log.exception("final_post_failed", run_id=run_id)
        if self.on_finished is not None:
            await self.on_finished(run_id, outcome, t.inv, t.ref)


def _alive(live: LiveRun) -> set[int]:
    # A LiveRun whose task is done has been reported as finished already.
    return {live.run_id} if live.task is None or not live.task.done() else set()
