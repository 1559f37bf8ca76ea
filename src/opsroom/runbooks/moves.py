"""A runbook run's record: every move of a step is a row in ``runbook_steps``, an audit row in
the same transaction, and an event on the incident's timeline when the runbook was started in
a war room; the checklist card is edited after each move. Claiming a step ("starting")
first is what keeps two clicks, or two replicas' watchers, from both starting it.

Following the steps builds on this (stepper.py), the commands on that (desk.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from opsroom.audit import AuditRecord
from opsroom.chat.base import ChatHub
from opsroom.core import Invocation, MessageRef, Place
from opsroom.incidents import store as incident_store
from opsroom.runbooks import store as rb_store
from opsroom.runbooks.card import render_card
from opsroom.runbooks.model import Runbook, Step
from opsroom.runbooks.store import RunbookRun
from opsroom.store import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from opsroom.audit import AuditLog
    from opsroom.commands.catalog import Catalog
    from opsroom.directory import Directory
    from opsroom.policy.engine import PolicyEngine

log = structlog.get_logger("opsroom.runbooks")


class HostParts(Protocol):
    @property
    def catalog(self) -> Catalog: ...

    @property
    def policy(self) -> PolicyEngine: ...

    @property
    def directory(self) -> Directory: ...


class RunbookHost(Protocol):
    """What the desk needs of the engine: its parts, chat, and the pipeline (``dispatch``)."""

    chat: ChatHub

    @property
    def parts(self) -> HostParts: ...

    @property
    def engine_flags(self) -> Mapping[str, type]: ...

    async def dispatch(self, inv: Invocation, *, via: str = "") -> int | None: ...


class RunbookMoves:
    def __init__(
        self,
        library: Mapping[str, Runbook],
        *,
        db: Database,
        chat: ChatHub,
        audit: AuditLog,
        mint: Callable[..., str],
        host: Callable[[], RunbookHost],
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

    def _lock(self, run_id: int) -> asyncio.Lock:
        return self._locks.setdefault(run_id, asyncio.Lock())

    def _get(self, run_id: int) -> RunbookRun | None:
        with self.db.read() as conn:
            return rb_store.get(conn, run_id)

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
        self, conn: Connection, actor: str, run_id: int, place: Place, action: str, summary: str, detail: dict[str, Any]
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

    def _event(self, conn: Connection, run: RunbookRun, actor: str, text: str, key: str) -> None:
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
