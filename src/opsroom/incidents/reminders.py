"""Reminders in the war room: nobody has claimed the lead role after
``incidents.lead_unclaimed_minutes``; no status update for the severity's
``update_every_minutes``. Until the incident is resolved.

Each reminder is recorded as an event keyed by its period (``remind:lead:3`` is the third
period without a lead), so the unique key on the timeline makes it go out once per period —
across restarts and replicas — and the timeline itself leaves reminders out."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from opsroom.core import Message
from opsroom.incidents import store as incident_store
from opsroom.incidents.store import Incident

if TYPE_CHECKING:
    from opsroom.incidents.service import IncidentDesk

log = structlog.get_logger("opsroom.incidents.reminders")
KIND = "reminder"


class Reminders:
    def __init__(self, desk: IncidentDesk, *, every_seconds: float = 30.0) -> None:
        self.desk = desk
        self.every_seconds = every_seconds
        self.leads: Callable[[], bool] = lambda: True  # cluster mode: plugins.Live.leads
        self._task: asyncio.Task[None] | None = None

    def _due(self, incident: Incident, last_update_at: float | None, now: dt.datetime) -> list[tuple[str, str]]:
        config = self.desk.config
        resolved = incident.state.milestones.get("resolved")
        if resolved is not None:
            return []
        due: list[tuple[str, str]] = []
        declared = (now - incident.state.declared_at).total_seconds()
        lead = self.desk.lead
        if lead not in incident.state.roles:
            period = config.lead_unclaimed_minutes * 60
            if declared >= period:
                due.append(
                    (
                        f"remind:lead:{int(declared // period)}",
                        f"⏰ *{incident.label}* has no {lead} after {int(declared // 60)} minutes: "
                        f"`incident role {lead} me` to lead it.",
                    )
                )
        severity = next((s for s in config.severities if s.name == incident.state.severity), None)
        if severity is not None and severity.update_every_minutes:
            period = severity.update_every_minutes * 60
            quiet = declared if last_update_at is None else last_update_at
            if quiet >= period:
                due.append(
                    (
                        f"remind:update:{int(declared // period)}",
                        f"⏰ *{incident.label}* ({severity.name}): no status update for {int(quiet // 60)} "
                        f"minutes; `incident update to=stakeholders …` keeps people informed.",
                    )
                )
        return due

    async def remind_once(self, now: dt.datetime | None = None) -> int:
        """Post what is due at ``now`` (a periodic job's timestamp; else the clock's now);
        returns how many reminders went out."""
        desk = self.desk
        now = now or desk.clock()
        sent = 0
        with desk.db.read() as conn:
            found = incident_store.listing(conn, open_only=True, final=desk.final, limit=500)
            updates = {
                i.id: [e.at for e in incident_store.events(conn, i.id) if e.kind in ("update", "declared")]
                for i in found
            }
        for incident in found:
            last = max(updates.get(incident.id) or [incident.state.declared_at])
            for source, text in self._due(incident, (now - last).total_seconds(), now):
                with desk.db.begin() as conn:
                    first = incident_store.add_event(
                        conn, incident.id, at=now, kind=KIND, actor="opsroom", text=text, source=source
                    )
                if first:
                    await desk.chat.send(desk.war_room(incident), Message.plain(text, "warning"))
                    sent += 1
        return sent

    async def _loop(self) -> None:
        while True:
            try:
                if self.leads():  # cluster mode: the leader reminds (and each is keyed in the DB too)
                    await self.remind_once()
            except Exception:
                log.exception("incident_reminders_failed")
            await asyncio.sleep(self.every_seconds)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
