"""An incident desk's common ground: finding the incident a command is about, its war room
(a channel where the platform can open one, else a thread in the shared war-room channel),
the announcements channel, and writing a change's audit row with its timeline event.

The commands themselves: service.py (declare and changes), followups.py, reading.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from opsroom.audit import AuditRecord
from opsroom.chat.base import ChatHub
from opsroom.config.incidents import IncidentsConfig
from opsroom.core import Context, Fields, Invocation, Message, Place, Principal, Section
from opsroom.incidents import lifecycle
from opsroom.incidents import store as incident_store
from opsroom.incidents.lifecycle import IncidentRuleError
from opsroom.incidents.store import Incident
from opsroom.store import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from opsroom.audit import AuditLog
    from opsroom.integrations.tickets.desk import TicketDesk

log = structlog.get_logger("opsroom.incidents")


class IncidentRoom:
    def __init__(
        self,
        config: IncidentsConfig,
        *,
        db: Database,
        chat: ChatHub,
        audit: AuditLog,
        users: Mapping[str, Principal],
        places: Mapping[str, Place],
        oncall: Callable[[str, dt.datetime], list[str]] | None = None,
        postmortem_dir: Path | None = None,
        tickets: Callable[[], TicketDesk | None] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.db = db
        self.chat = chat
        self.audit = audit
        self.users = users
        self.places = places  # configured channels by name ("#war-room" -> Place; platform "" = any)
        self.oncall = oncall
        self.postmortem_dir = postmortem_dir
        self.tickets = tickets  # the ticket desk (the tickets plugin's), for follow-ups
        self.clock = clock
        self.final = next(s.name for s in config.statuses if s.final)
        self.lead = lifecycle.lead_role(config)

    # -- finding the incident a command is about -------------------------------------------------
    def incident_for(self, inv: Invocation) -> Incident | None:
        ref = inv.args.get("incident")
        with self.db.read() as conn:
            if ref:
                return incident_store.find(conn, str(ref))
            place = inv.place
            return incident_store.at_place(conn, place.platform, place.channel, place.thread)

    def _missing(self, inv: Invocation) -> Message:
        if inv.args.get("incident"):
            return Message.plain(f"There is no incident `{inv.args['incident']}`. Try `incident`.", "warning")
        return Message.plain(
            "This is not an incident's war room; name one with `incident=INC-3` (`incident` lists the open ones).",
            "warning",
        )

    def war_room(self, incident: Incident) -> Place:
        place = Place(incident.platform, incident.channel, channel_name=incident.channel_name)
        return place.in_thread(incident.thread) if incident.thread else place

    def _record(
        self, inv: Invocation, incident: Incident | None, action: str, summary: str, **detail: Any
    ) -> AuditRecord:
        channel = incident.channel_name if incident is not None else inv.place.name
        return AuditRecord(
            actor=inv.principal.name,
            action=action,
            command=inv.command.name,
            platform=inv.place.platform,
            channel=channel,
            summary=summary,
            detail={"incident": incident.id if incident else None, **detail},
        )

    def _on_timeline(
        self,
        conn: Connection,
        inv: Invocation,
        incident_id: int,
        row: AuditRecord,
        *,
        kind: str,
        text: str,
        now: dt.datetime,
    ) -> int:
        """The audit row of a change and its timeline event, in the caller's transaction."""
        audit_id = self.audit.append_many(conn, [row])[0]
        incident_store.add_event(
            conn,
            incident_id,
            at=now,
            kind=kind,
            actor=inv.principal.name,
            text=text,
            source=f"audit:{audit_id}",
            audit_id=audit_id,
        )
        return audit_id

    def _lead_for(self, service: str) -> str | None:
        target = self.config.oncall.get(service) or self.config.default_oncall
        if not target:
            return None
        if self.oncall is None:
            return None if target.startswith("oncall:") else target
        found = self.oncall(target, self.clock())
        return found[0] if found else None

    def _person(self, raw: str, inv: Invocation) -> str | None:
        name = raw.lstrip("@")
        if name == "me":
            return inv.principal.name
        if name == "none":
            return None
        if name not in self.users:
            raise IncidentRuleError(f"`{name}` is not an opsroom user")
        return name

    # -- war rooms and announcements -------------------------------------------------------------
    async def _open_war_room(
        self, inv: Invocation, incident_id: int, label: str, title: str, lead: str | None
    ) -> Place:
        platform = inv.place.platform
        members = sorted({p for p in (lead, inv.principal.name) if p})
        try:
            created = await self.chat.create_channel(
                platform, f"{label} {title}", members=(), topic=f"{label}: {title}", created_by=inv.principal.name
            )
        except Exception:  # a platform that refuses: fall back to a thread, say so in the log
            log.exception("war_room_channel_failed", incident=incident_id)
            created = None
        if created is not None:
            return created
        shared = self._configured(self.config.war_room_channel, platform)
        base = shared or inv.place.in_thread(None)
        ref = await self.chat.send(
            base,
            Message(
                f"{label}: {title}",
                (
                    Section(f"🚨 *{label}* {title} — this thread is its war room."),
                    Context("people here: " + ", ".join(members)),
                ),
            ),
        )
        return base.in_thread(ref.message_id)

    async def _welcome(self, incident: Incident, lead: str | None) -> None:
        lead_principal = self.users.get(lead) if lead else None
        state = incident.state
        text = f"🚨 *{incident.label}* {incident.title}\n" + (
            f"{lead} leads as {self.lead} (on call)." if lead else f"Nobody leads yet: `incident role {self.lead} me`."
        )
        fields = (
            ("severity", state.severity),
            ("status", state.status),
            ("service", incident.service or "—"),
            ("declared by", incident.declared_by),
        )
        await self.chat.send(
            self.war_room(incident),
            Message(
                f"{incident.label} war room",
                (
                    Section(text),
                    Fields(fields),
                    Context(
                        "Commands run here land on the timeline: `incident note …`, `incident status identified`, "
                        "`incident update …`, `runbook start …`, `incident resolve`."
                    ),
                ),
                "warning",
                mentions=(lead_principal,) if lead_principal else (),
            ),
        )

    def _configured(self, name: str, platform: str) -> Place | None:
        """A configured channel on ``platform``; one configured for another platform (or not
        at all) is addressed by its name there, as platforms accept (``#war-room``)."""
        if not name:
            return None
        found = self.places.get(name)
        if found is not None and found.platform in ("", platform):
            return Place(platform, found.channel, channel_name=found.name)
        return Place(platform, name.lstrip("#"), channel_name=name)

    async def _announce(self, incident: Incident, text: str) -> None:
        place = self._configured(self.config.announce_channel, incident.platform)
        if place is None:
            return
        try:
            await self.chat.send(place, Message.plain(text, "warning"))
        except Exception:  # the war room has it; the announcement is a courtesy
            log.exception("incident_announce_failed", incident=incident.id)

    def _elsewhere(self, incident: Incident, inv: Invocation) -> bool:
        room = self.war_room(incident)
        return (room.platform, room.channel, room.thread) != (inv.place.platform, inv.place.channel, inv.place.thread)

    async def _tell(self, incident: Incident, inv: Invocation, message: Message) -> None:
        """Changes made from elsewhere are posted in the war room too."""
        if self._elsewhere(incident, inv):
            await self.chat.send(self.war_room(incident), message)
