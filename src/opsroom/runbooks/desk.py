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

By job: moves.py (a step's move: row, audit, timeline, card), stepper.py (advancing, handing
commands to the pipeline, the watcher); here the ``runbook …`` commands and the inputs.
"""

from __future__ import annotations

from typing import Any

from opsroom.commands.lists import ChoiceLists
from opsroom.commands.values import ArgValueError, convert
from opsroom.core import Context, Invocation, Message, ParseError, Section
from opsroom.incidents import store as incident_store
from opsroom.runbooks import store as rb_store
from opsroom.runbooks.card import render_card
from opsroom.runbooks.model import Runbook
from opsroom.runbooks.stepper import RunbookStepper

__all__ = ["RunbookDesk", "Watcher", "parse_inputs"]


def parse_inputs(book: Runbook, words: str, lists: ChoiceLists | None) -> dict[str, Any]:
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


class RunbookDesk(RunbookStepper):
    """The ``runbook …`` commands: each method is the handler of one."""

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


class Watcher:
    """The desk's background service (``Extension.services``: start/stop)."""

    def __init__(self, desk: RunbookDesk) -> None:
        self.desk = desk

    async def start(self) -> None:
        await self.desk.begin()

    async def stop(self) -> None:
        await self.desk.end()
