"""Following a runbook run: move it as far as it can go without a person (``when``
conditions, a command step's run that ended, ``auto`` steps), hand a command step to the
pipeline as the person who clicked (or started it, for ``auto``), and a watcher that picks
every active run up — after a restart or a long approval too."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from opsroom.commands.parser import parse
from opsroom.core import Message, ParseError, Principal, RunState
from opsroom.runbooks import store as rb_store
from opsroom.runbooks.check import fill
from opsroom.runbooks.model import Runbook, Step
from opsroom.runbooks.moves import RunbookMoves
from opsroom.runbooks.store import RunbookRun
from opsroom.runbooks.when import WhenError, evaluate
from opsroom.runs import store as run_store

log = structlog.get_logger("opsroom.runbooks")
STARTING_TIMEOUT_S = 120.0
_ENDED_BADLY = {
    RunState.FAILED,
    RunState.CANCELLED,
    RunState.TIMED_OUT,
    RunState.INTERRUPTED,
    RunState.DENIED,
    RunState.EXPIRED,
}


class RunbookStepper(RunbookMoves):
    async def advance(self, run_id: int, *, show: bool = True) -> bool:
        """Move the run as far as it can go without a person; then show it (when ``show``,
        or when anything moved). True when anything moved."""
        async with self._lock(run_id):
            before = self._get(run_id)
            await self._advance(run_id)
            moved = self._get(run_id) != before
        if show or moved:
            await self._refresh(run_id)
        return moved

    async def _advance(self, run_id: int) -> None:
        for _ in range(1000):  # at most one move per step per pass; the bound is a safety net
            run = self._get(run_id)
            book = self.library.get(run.runbook) if run else None
            if run is None or book is None or run.state != "active":
                return
            current = next((r for r in run.steps if r.state not in rb_store.FINISHED), None)
            if current is None:
                self._finish(run, "succeeded")
                return
            step = book.steps[current.position]
            if (
                current.state == "starting"
                and current.started_at is not None
                and (self.clock() - current.started_at).total_seconds() > STARTING_TIMEOUT_S
            ):
                # Claimed, then cut off before its command was handed on (a crash): it waits
                # for a click again rather than guessing whether the command started.
                self._unclaim(run, step)
                return
            if current.state in ("waiting", "starting"):
                return
            if current.state == "running":
                if not self._settle(run, step, current):
                    return
                continue
            if step.when is not None and not self._holds(run, book, step):
                self._move(run, step, expect=("pending",), to="skipped", note=f"when {step.when_text}: false")
                continue
            if step.kind == "command" and step.auto:
                owner = self.host().parts.directory.get(run.started_by) or Principal(run.started_by)
                await self._run_command(run, book, step, owner, expect=("pending",))  # running, or failed
                continue
            self._move(run, step, expect=("pending",), to="waiting")
            return

    def _holds(self, run: RunbookRun, book: Runbook, step: Step) -> bool:
        facts: dict[str, Any] = dict(run.inputs)
        for row in run.steps:
            facts[f"steps.{row.step}.ok"] = row.state == "ok"
            facts[f"steps.{row.step}.failed"] = row.state == "failed"
            facts[f"steps.{row.step}.skipped"] = row.state == "skipped"
            facts[f"steps.{row.step}.done"] = row.state in rb_store.FINISHED
        try:
            assert step.when is not None
            return evaluate(step.when, facts)
        except WhenError:
            return False

    def _settle(self, run: RunbookRun, step: Step, row: rb_store.StepRow) -> bool:
        """A running step whose command run ended moves to ok or failed; True when it moved."""
        with self.db.read() as conn:
            command = run_store.get_run(conn, row.command_run) if row.command_run else None
        if command is None or command.state not in ({RunState.SUCCEEDED} | _ENDED_BADLY):
            return False
        if command.state == RunState.SUCCEEDED:
            return self._move(run, step, expect=("running",), to="ok", note=f"run #{command.id} succeeded")
        moved = self._move(run, step, expect=("running",), to="failed", note=f"run #{command.id} {command.state.value}")
        if moved and step.on_fail == "stop":
            self._finish(run, "failed")
        return moved

    async def _run_command(
        self, run: RunbookRun, book: Runbook, step: Step, principal: Principal, expect: tuple[str, ...] = ("waiting",)
    ) -> Message | None:
        """Hand the step's command to the pipeline as ``principal``, in the card's thread."""
        host = self.host()
        place = (
            run.place.in_thread(run.card)
            if run.card and host.chat.get(run.place.platform).capabilities.threads
            else run.place
        )
        text = fill(step.text, run.inputs)
        try:
            inv = parse(text, host.parts.catalog, principal, place, engine_flags=host.engine_flags)
        except ParseError as exc:
            self._move(run, step, expect=expect, to="failed", actor=principal.name, note=str(exc))
            if step.on_fail == "stop":
                self._finish(run, "failed")
            return Message.plain(f"Step `{step.id}`: {exc}", "warning")
        # Claimed first ("starting"), so two clicks — or two replicas' watchers — cannot both
        # start it: only the one whose move succeeded hands the command on.
        if not self._claim(run, step, expect, principal.name):
            return Message.plain(f"Step `{step.id}` was already started.", "info")
        run_id = await host.dispatch(inv, via=f"runbook #{run.id} step {step.id}")
        if run_id is None:  # refused (policy, freeze, lock): the pipeline said why in the thread
            if expect == ("waiting",):
                self._unclaim(run, step)
                return Message.plain(f"Step `{step.id}` did not start; it still waits.", "warning")
            self._move(run, step, expect=("starting",), to="failed", actor=principal.name, note="refused")
            if step.on_fail == "stop":
                self._finish(run, "failed")
            return Message.plain(f"Step `{step.id}` was refused.", "warning")
        self._move(
            run,
            step,
            expect=("starting",),
            to="running",
            actor=principal.name,
            command_run=run_id,
            note=f"run #{run_id}",
        )
        return None

    # -- the watcher -------------------------------------------------------------------------------
    async def watch_once(self) -> None:
        with self.db.read() as conn:
            active = rb_store.active_ids(conn)
        for run_id in active:
            # Only a step whose command runs (or a run cut off before its first move) can move
            # without a person; the card is edited only when something moved, so the buttons
            # people are about to click stay the ones shown.
            run = self._get(run_id)
            current = next((r for r in run.steps if r.state not in rb_store.FINISHED), None) if run else None
            if current is None or current.state in ("running", "pending"):
                await self.advance(run_id, show=False)

    async def _watch(self) -> None:
        while True:
            try:
                if self.leads():  # cluster mode: the leader moves runbook steps
                    await self.watch_once()
            except Exception:
                log.exception("runbook_watch_failed")
            await asyncio.sleep(self.poll_seconds)

    async def begin(self) -> None:
        """Started with the system (after the engine recovered): pick up every active run."""
        self._task = asyncio.create_task(self._watch())

    async def end(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
