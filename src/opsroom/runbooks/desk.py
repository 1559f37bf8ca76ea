"""Following a runbook in chat: one checklist card, edited in place, and one step at a time.

- A command step is a real command through the engine's pipeline — parse, policy, change
  review, freezes, approvals, locks — as the person who clicked Run (``auto`` steps, read-only
  by ``opsroom check``, as the person who started the runbook), in the card's thread.
- A manual step waits for Done or Skip; ``when`` conditions are evaluated when a step is
  reached, from the inputs and the steps above.
- Every move is a row in ``runbook_steps`` and an audit row in the same transaction, and an
  event on the incident's timeline when the runbook was started in a war room.
- Nothing lives only in memory: a watcher looks at the runs of running steps, so a restart
  (or a long approval) just picks each runbook run up where it was.

The buttons type ``runbook-step N STEP run|done|skip`` (the engine's ``command.run`` button),
so a click is parsed, authorized and audited like the typed command.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from opsroom.audit import AuditRecord
from opsroom.chat.base import ChatHub
from opsroom.commands.parser import parse
from opsroom.commands.values import ArgValueError, convert
from opsroom.core import Context, Invocation, Message, MessageRef, ParseError, Principal, RunState, Section
from opsroom.incidents import store as incident_store
from opsroom.runbooks import store as rb_store
from opsroom.runbooks.card import render_card
from opsroom.runbooks.check import fill
from opsroom.runbooks.model import Runbook, Step
from opsroom.runbooks.store import RunbookRun
from opsroom.runbooks.when import WhenError, evaluate
from opsroom.runs import store as run_store
from opsroom.store import Database

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


def parse_inputs(book: Runbook, words: str, lists: Any) -> dict[str, Any]:
    """``env=production version=v4.12.3`` against the runbook's typed inputs."""
    given: dict[str, str] = {}
    for word in words.split():
        key, sep, value = word.partition("=")
        if not sep:
            raise ParseError(
                f"inputs are name=value (got `{word}`); inputs: " + (", ".join(a.name for a in book.inputs) or "none")
            )
        if book.input(key) is None:
            raise ParseError(
                f"`{book.id}` has no input `{key}`; inputs: " + (", ".join(a.name for a in book.inputs) or "none")
            )
        given[key] = value
    values: dict[str, Any] = {}
    for arg in book.inputs:
        if arg.name in given:
            try:
                values[arg.name] = convert(arg, given[arg.name], lists)
            except ArgValueError as exc:
                raise ParseError(str(exc)) from None
        elif arg.default is not None:
            values[arg.name] = arg.default
        elif arg.required:
            raise ParseError(f"`{book.id}` needs `{arg.name}=…`")
        else:
            values[arg.name] = ""
    return values


class RunbookDesk:
    def __init__(
        self,
        library: Mapping[str, Runbook],
        *,
        db: Database,
        chat: ChatHub,
        audit: Any,
        mint: Callable[..., str],
        host: Callable[[], Any],
        poll_seconds: float = 0.5,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.library = dict(library)
        self.db = db
        self.chat = chat
        self.audit = audit
        self.mint = mint
        self.host = host  # the engine, once built: commands go through its pipeline
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._locks: dict[int, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self.leads: Callable[[], bool] = lambda: True  # cluster mode: plugins.Live.leads

    # -- commands ----------------------------------------------------------------------------------
    def _may(self, inv: Invocation, action: str) -> bool:
        return bool(self.host().parts.policy.decide(inv.principal, action, {}, inv.place).allowed)

    async def listing(self, inv: Invocation) -> Message:
        if not self.library:
            return Message.plain("No runbooks are configured (`runbooks.paths` in opsroom.yaml).")
        lines = [
            f"*{b.id}* — {b.title}" + (f" · owner {b.owner}" if b.owner else "")
            for b in sorted(self.library.values(), key=lambda b: b.id)
        ]
        note = "" if self._may(inv, "runbook-start") else "\n(you may read them; starting one needs `runbook-start`)"
        return Message(f"{len(lines)} runbooks", (Section("\n".join(lines) + note),))

    async def show(self, inv: Invocation) -> Message:
        book = self.library.get(str(inv.args["runbook"]))
        if book is None:
            return self._unknown(str(inv.args["runbook"]))
        lines = []
        for n, step in enumerate(book.steps, 1):
            what = f"`{step.text}`" if step.kind == "command" else step.text
            extra = " · auto" if step.auto else ""
            extra += f" · when {step.when_text}" if step.when_text else ""
            lines.append(f"{n}. [{step.id}] {what}{extra}")
        inputs = ", ".join(a.name + ("" if a.required else "?") for a in book.inputs) or "none"
        return Message(
            book.title,
            (
                Section(f"📘 *{book.id}* — {book.title}\n{book.summary}".strip()),
                Section("\n".join(lines)),
                Context(f"inputs: {inputs} · {book.path.name}"),
            ),
        )

    def _unknown(self, name: str) -> Message:
        known = ", ".join(sorted(self.library)) or "none"
        return Message.plain(f"There is no runbook `{name}` (runbooks: {known}).", "warning")

    async def start(self, inv: Invocation) -> Message | None:
        book = self.library.get(str(inv.args["runbook"]))
        if book is None:
            return self._unknown(str(inv.args["runbook"]))
        host = self.host()
        try:
            inputs = parse_inputs(book, str(inv.args.get("inputs") or ""), host.parts.catalog.lists)
        except ParseError as exc:
            return Message.plain(str(exc), "warning")
        now = self.clock()
        place = inv.place
        with self.db.begin() as conn:
            incident = incident_store.at_place(conn, place.platform, place.channel, place.thread)
            run_id = rb_store.create(
                conn,
                book,
                inputs=inputs,
                started_by=inv.principal.name,
                place=place,
                incident_id=incident.id if incident else None,
                now=now,
            )
            self._audit(
                conn,
                inv.principal.name,
                run_id,
                place,
                "runbook.started",
                f"runbook {book.id} #{run_id} started ({book.digest[:12]})",
                {"runbook": book.id, "digest": book.digest, "inputs": inputs},
            )
            if incident is not None:
                incident_store.add_event(
                    conn,
                    incident.id,
                    at=now,
                    kind="runbook",
                    actor=inv.principal.name,
                    text=f"runbook {book.id} (#{run_id}) started",
                    source=f"runbook:{run_id}:start",
                )
        # Taken before the first await: the watcher must not run a step before the card (and
        # so the thread the steps run in) exists.
        async with self._lock(run_id):
            run = self._get(run_id)
            assert run is not None
            ref = await self.chat.send(place, render_card(book, run, self.mint))
            with self.db.begin() as conn:
                rb_store.set_card(conn, run_id, ref.message_id)
        await self.advance(run_id)
        return None

    async def step(self, inv: Invocation) -> Message | None:
        run_id, step_id, do = int(inv.args["run"]), str(inv.args["step"]), str(inv.args["do"])
        run = self._get(run_id)
        if run is None:
            return Message.plain(f"There is no runbook run #{run_id}.", "warning")
        book = self.library.get(run.runbook)
        step = book.step(step_id) if book else None
        row = run.step(step_id)
        if book is None or step is None or row is None:
            return Message.plain(f"Runbook run #{run_id} has no step `{step_id}`.", "warning")
        if run.state != "active":
            return Message.plain(f"Runbook run #{run_id} is {run.state}; nothing more to do.", "info")
        if row.state != "waiting":
            return Message.plain(f"Step `{step_id}` is {row.state}, not waiting for you.", "info")
        if do == "done" and step.kind == "command":
            return Message.plain(f"Step `{step_id}` is a command: Run it, or Skip it.", "warning")
        if do == "run" and step.kind != "command":
            return Message.plain(f"Step `{step_id}` is a manual check: mark it Done or Skip it.", "warning")
        async with self._lock(run_id):
            if do == "run":
                answer = await self._run_command(run, book, step, inv.principal)
                if answer is not None:
                    await self._refresh(run_id)  # fresh buttons: the clicked one is used up
                    return answer
            else:
                self._move(
                    run,
                    step,
                    expect=("waiting",),
                    to="ok" if do == "done" else "skipped",
                    actor=inv.principal.name,
                    note=f"{do} by {inv.principal.name}",
                )
        await self.advance(run_id)
        return None

    async def cancel(self, inv: Invocation) -> Message:
        run_id = int(inv.args["run"])
        run = self._get(run_id)
        if run is None or run.state != "active":
            return Message.plain(f"Runbook run #{run_id} is not running.", "warning")
        now = self.clock()
        with self.db.begin() as conn:
            rb_store.set_state(conn, run_id, "cancelled", now)
            self._audit(
                conn,
                inv.principal.name,
                run_id,
                run.place,
                "runbook.cancelled",
                f"runbook {run.runbook} #{run_id} cancelled by {inv.principal.name}",
                {},
            )
            self._event(conn, run, inv.principal.name, f"runbook {run.runbook} (#{run_id}) cancelled", "cancelled")
        await self._refresh(run_id)
        return Message.plain(f"🛑 Runbook run #{run_id} cancelled; commands already running go on.", "warning")

    # -- moving through the steps -------------------------------------------------------------------
    def _lock(self, run_id: int) -> asyncio.Lock:
        return self._locks.setdefault(run_id, asyncio.Lock())

    def _get(self, run_id: int) -> RunbookRun | None:
        with self.db.read() as conn:
            return rb_store.get(conn, run_id)

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

    def _claim(self, run: RunbookRun, step: Step, expect: tuple[str, ...], actor: str) -> bool:
        with self.db.begin() as conn:
            return rb_store.move_step(
                conn, run.id, step.id, expect=expect, to="starting", now=self.clock(), actor=actor
            )

    def _unclaim(self, run: RunbookRun, step: Step) -> None:
        with self.db.begin() as conn:
            rb_store.move_step(conn, run.id, step.id, expect=("starting",), to="waiting", now=self.clock())

    def _move(
        self,
        run: RunbookRun,
        step: Step,
        *,
        expect: tuple[str, ...],
        to: str,
        actor: str | None = None,
        command_run: int | None = None,
        note: str = "",
    ) -> bool:
        now = self.clock()
        who = actor or "opsroom"
        with self.db.begin() as conn:
            moved = rb_store.move_step(
                conn, run.id, step.id, expect=expect, to=to, now=now, actor=actor, command_run=command_run, note=note
            )
            if not moved:
                return False
            summary = f"runbook {run.runbook} #{run.id} step {step.id}: {to}" + (f" ({note})" if note else "")
            self._audit(
                conn,
                who,
                run.id,
                run.place,
                "runbook.step",
                summary,
                {"step": step.id, "state": to, "run": command_run},
            )
            if to != "waiting":
                self._event(
                    conn,
                    run,
                    who,
                    f"runbook {run.runbook} step {step.id}: {to}" + (f" ({note})" if note else ""),
                    f"{step.id}:{to}",
                )
        return True

    def _finish(self, run: RunbookRun, state: str) -> None:
        now = self.clock()
        with self.db.begin() as conn:
            rb_store.set_state(conn, run.id, state, now)
            self._audit(
                conn, "opsroom", run.id, run.place, f"runbook.{state}", f"runbook {run.runbook} #{run.id} {state}", {}
            )
            self._event(conn, run, "opsroom", f"runbook {run.runbook} (#{run.id}) {state}", state)

    def _audit(
        self, conn: Any, actor: str, run_id: int, place: Any, action: str, summary: str, detail: dict[str, Any]
    ) -> None:
        self.audit.append_many(
            conn,
            [
                AuditRecord(
                    actor=actor,
                    action=action,
                    command="runbook",
                    platform=place.platform,
                    channel=place.name,
                    summary=summary,
                    detail={"runbook_run": run_id, **detail},
                )
            ],
        )

    def _event(self, conn: Any, run: RunbookRun, actor: str, text: str, key: str) -> None:
        if run.incident_id is not None:
            incident_store.add_event(
                conn,
                run.incident_id,
                at=self.clock(),
                kind="runbook",
                actor=actor,
                text=text,
                source=f"runbook:{run.id}:{key}",
            )

    async def _refresh(self, run_id: int) -> None:
        run = self._get(run_id)
        book = self.library.get(run.runbook) if run else None
        if run is None or book is None or run.card is None:
            return
        try:
            await self.chat.update(MessageRef(run.place, run.card), render_card(book, run, self.mint))
        except Exception:  # the state is stored; the card catches up at the next change
            log.exception("runbook_card_update_failed", run=run_id)

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


class Watcher:
    """The desk's background service (``Extension.services``: start/stop)."""

    def __init__(self, desk: RunbookDesk) -> None:
        self.desk = desk

    async def start(self) -> None:
        await self.desk.begin()

    async def stop(self) -> None:
        await self.desk.end()
