"""Incidents in chat: declare one, work it in its war room, move it through its statuses,
write it up. Each method is the handler of one catalog command, so by the time it runs the
pipeline has parsed, authorized and audited the request; here the change and its audit row
commit in one transaction, the timeline gets its event, and chat is told.

Everything goes through the ChatHub: a platform that can open channels gets a war-room
channel per incident, the others a thread in the shared war-room channel.

By job: room.py (finding an incident, war rooms, audit + timeline), followups.py (alert
links, follow-up tickets), reading.py (lists, stats, timeline, postmortem); here declaring
and the changes of status, severity and roles, notes and updates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from opsroom.core import Fields, Invocation, Message, Section
from opsroom.incidents import lifecycle, postmortem, stats
from opsroom.incidents import store as incident_store
from opsroom.incidents.followups import IncidentFollowups
from opsroom.incidents.lifecycle import IncidentRuleError, IncidentState
from opsroom.incidents.reading import IncidentReading
from opsroom.incidents.store import Incident


class IncidentDesk(IncidentFollowups, IncidentReading):
    """The ``incident …`` commands: each method is the handler of one."""

    # -- declare ----------------------------------------------------------------------------------
    async def declare(self, inv: Invocation) -> Message:
        now = self.clock()
        title, severity = str(inv.args["title"]).strip(), str(inv.args["severity"])
        service = str(inv.args.get("service") or "")
        if not title:
            return Message.plain('An incident needs a title: `incident declare "Payments failing" sev2`.', "warning")
        lead = self._lead_for(service)
        state = lifecycle.declare(self.config, severity, now, lead=lead)
        with self.db.begin() as conn:
            incident_id = incident_store.insert_incident(
                conn,
                title=title,
                service=service,
                declared_by=inv.principal.name,
                platform=inv.place.platform,
                state=state,
            )
        label = f"INC-{incident_id}"
        room = await self._open_war_room(inv, incident_id, label, title, lead)
        with self.db.begin() as conn:
            incident_store.set_war_room(conn, incident_id, room.channel, room.name, room.thread)
            incident = incident_store.get(conn, incident_id)
            assert incident is not None
            self._on_timeline(
                conn,
                inv,
                incident_id,
                self._record(
                    inv,
                    incident,
                    "incident.declared",
                    f"{label} declared: {title} ({severity})",
                    severity=severity,
                    service=service,
                    lead=lead,
                ),
                kind="declared",
                text=f"declared {severity}: {title}",
                now=now,
            )
        await self._welcome(incident, lead)
        await self._announce(
            incident,
            f"🚨 *{label}* declared by {inv.principal.name}: {title} · {severity}"
            + (f" · {service}" if service else "")
            + f" · war room {room.name}",
        )
        where = room.name if not room.thread else f"the thread in {room.name}"
        return Message(
            f"{label} declared",
            (Section(f"🚨 *{label}* declared: {title} · {severity}. War room: {where}."),),
            "success",
        )

    # -- changes ----------------------------------------------------------------------------------
    async def _change(
        self,
        inv: Invocation,
        change: Callable[[Incident, dt.datetime], IncidentState],
        action: str,
        describe: Callable[[Incident, IncidentState], str],
        kind: str,
    ) -> Message:
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        now = self.clock()
        try:
            new = change(incident, now)
        except IncidentRuleError as exc:
            return Message.plain(f"{incident.label}: {exc}.", "warning")
        text = describe(incident, new)
        with self.db.begin() as conn:
            incident_store.save_state(conn, incident.id, new, now)
            stats.observe_new(incident, incident.state.milestones, new.milestones, new.severity)
            row = self._record(inv, incident, action, f"{incident.label}: {text}")
            self._on_timeline(conn, inv, incident.id, row, kind=kind, text=text, now=now)
        message = Message.plain(f"📣 *{incident.label}* {text} (by {inv.principal.name})", "info")
        await self._tell(incident, inv, message)
        return message if self._elsewhere(incident, inv) else Message.plain(f"{incident.label}: {text}", "success")

    async def status(self, inv: Invocation) -> Message:
        to = str(inv.args["status"])
        if to == self.final:
            return await self.close(inv)
        if to == self._resolved_status():
            return await self.resolve(inv)
        return await self._change(
            inv,
            lambda i, now: lifecycle.change_status(self.config, i.state, to, now),
            "incident.status",
            lambda i, new: f"status {i.state.status} → {to}",
            "status",
        )

    def _resolved_status(self) -> str | None:
        return next((s.name for s in self.config.statuses if s.milestone == "resolved"), None)

    async def severity(self, inv: Invocation) -> Message:
        to = str(inv.args["severity"])
        return await self._change(
            inv,
            lambda i, now: lifecycle.change_severity(self.config, i.state, to),
            "incident.severity",
            lambda i, new: f"severity {i.state.severity} → {to}",
            "severity",
        )

    async def role(self, inv: Invocation) -> Message:
        role = str(inv.args["role"])
        try:
            person = self._person(str(inv.args["person"]), inv)
        except IncidentRuleError as exc:
            return Message.plain(str(exc), "warning")
        return await self._change(
            inv,
            lambda i, now: lifecycle.assign_role(self.config, i.state, role, person),
            "incident.role",
            lambda i, new: f"{role}: {person}" if person else f"{role}: nobody",
            "role",
        )

    async def note(self, inv: Invocation) -> Message:
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        text = str(inv.args.get("text") or "").strip()
        if not text:
            return Message.plain("A note needs text: `incident note the rollback helped`.", "warning")
        now = self.clock()
        with self.db.begin() as conn:
            self._on_timeline(
                conn,
                inv,
                incident.id,
                self._record(inv, incident, "incident.note", text),
                kind="note",
                text=text,
                now=now,
            )
        return Message.plain(f"📌 on {incident.label}'s timeline: {text}", "success")

    async def update(self, inv: Invocation) -> Message:
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        text = str(inv.args.get("text") or "").strip()
        if not text:
            return Message.plain("An update needs text: `incident update rollback done, errors falling`.", "warning")
        audience = str(inv.args.get("to") or "team")
        now = self.clock()
        with self.db.begin() as conn:
            self._on_timeline(
                conn,
                inv,
                incident.id,
                self._record(inv, incident, "incident.update", text, audience=audience),
                kind="update",
                text=f"update ({audience}): {text}",
                now=now,
            )
        state = incident.state
        card = Message(
            f"{incident.label} update",
            (
                Section(f"📣 *{incident.label}* {incident.title}\n{text}"),
                Fields((("status", state.status), ("severity", state.severity), ("by", inv.principal.name))),
            ),
            "info",
        )
        await self._tell(incident, inv, card)
        if audience == "stakeholders":
            await self._announce(
                incident, f"📣 *{incident.label}* ({state.status}, {state.severity}) {incident.title}: {text}"
            )
        if self._elsewhere(incident, inv):
            return Message.plain(f"{incident.label}: update posted", "success")
        return card

    async def resolve(self, inv: Invocation) -> Message:
        resolved = self._resolved_status()
        if resolved is None:
            return Message.plain("No status here marks an incident resolved (incidents.statuses).", "warning")
        answer = await self._change(
            inv,
            lambda i, now: lifecycle.change_status(self.config, i.state, resolved, now),
            "incident.status",
            lambda i, new: f"status {i.state.status} → {resolved}",
            "status",
        )
        if answer.tone == "warning":
            return answer
        draft = await self.write_postmortem(inv)
        return Message(answer.text, answer.blocks + draft.blocks, answer.tone)

    async def close(self, inv: Invocation) -> Message:
        answer = await self._change(
            inv,
            lambda i, now: lifecycle.change_status(self.config, i.state, self.final, now),
            "incident.status",
            lambda i, new: f"status {i.state.status} → {self.final}",
            "status",
        )
        if answer.tone == "warning":
            return answer
        incident = self.incident_for(inv)
        assert incident is not None
        durations = lifecycle.durations(incident.state)
        summary = ", ".join(f"{m} after {postmortem.human(s)}" for m, s in durations.items()) or "no milestones"
        await self._announce(incident, f"✅ *{incident.label}* closed: {incident.title} ({summary})")
        if incident.thread is None and await self.chat.archive_channel(self.war_room(incident)):
            return Message.plain(f"✅ {incident.label} closed ({summary}); the war room is archived.", "success")
        return Message.plain(f"✅ {incident.label} closed ({summary}).", "success")
