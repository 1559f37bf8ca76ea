"""Incidents in chat: declare one, work it in its war room, move it through its statuses,
write it up. Each method is the handler of one catalog command, so by the time it runs the
pipeline has parsed, authorized and audited the request; here the change and its audit row
commit in one transaction, the timeline gets its event, and chat is told.

Everything goes through the ChatHub: a platform that can open channels gets a war-room
channel per incident, the others a thread in the shared war-room channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from opsroom.audit import AuditRecord
from opsroom.chat.base import ChatHub
from opsroom.config.incidents import IncidentsConfig
from opsroom.core import Code, Context, Fields, Invocation, Message, Place, Principal, Section
from opsroom.incidents import lifecycle, postmortem, stats, timeline
from opsroom.incidents import store as incident_store
from opsroom.incidents.lifecycle import IncidentRuleError, IncidentState
from opsroom.incidents.store import Incident
from opsroom.reporter import tail
from opsroom.store import Database

log = structlog.get_logger("opsroom.incidents")


class IncidentDesk:
    def __init__(
        self,
        config: IncidentsConfig,
        *,
        db: Database,
        chat: ChatHub,
        audit: Any,
        users: Mapping[str, Principal],
        places: Mapping[str, Place],
        oncall: Callable[[str, dt.datetime], list[str]] | None = None,
        postmortem_dir: Path | None = None,
        tickets: Callable[[], Any] | None = None,
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
            audit_id = self.audit.append_many(
                conn,
                [
                    self._record(
                        inv,
                        incident,
                        "incident.declared",
                        f"{label} declared: {title} ({severity})",
                        severity=severity,
                        service=service,
                        lead=lead,
                    )
                ],
            )[0]
            incident_store.add_event(
                conn,
                incident_id,
                at=now,
                kind="declared",
                actor=inv.principal.name,
                text=f"declared {severity}: {title}",
                source=f"audit:{audit_id}",
                audit_id=audit_id,
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
            audit_id = self.audit.append_many(conn, [row])[0]
            incident_store.add_event(
                conn,
                incident.id,
                at=now,
                kind=kind,
                actor=inv.principal.name,
                text=text,
                source=f"audit:{audit_id}",
                audit_id=audit_id,
            )
        message = Message.plain(f"📣 *{incident.label}* {text} (by {inv.principal.name})", "info")
        await self._tell(incident, inv, message)
        return message if self._elsewhere(incident, inv) else Message.plain(f"{incident.label}: {text}", "success")

    def _elsewhere(self, incident: Incident, inv: Invocation) -> bool:
        room = self.war_room(incident)
        return (room.platform, room.channel, room.thread) != (inv.place.platform, inv.place.channel, inv.place.thread)

    async def _tell(self, incident: Incident, inv: Invocation, message: Message) -> None:
        """Changes made from elsewhere are posted in the war room too."""
        if self._elsewhere(incident, inv):
            await self.chat.send(self.war_room(incident), message)

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
            audit_id = self.audit.append_many(conn, [self._record(inv, incident, "incident.note", text)])[0]
            incident_store.add_event(
                conn,
                incident.id,
                at=now,
                kind="note",
                actor=inv.principal.name,
                text=text,
                source=f"audit:{audit_id}",
                audit_id=audit_id,
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
            audit_id = self.audit.append_many(
                conn, [self._record(inv, incident, "incident.update", text, audience=audience)]
            )[0]
            incident_store.add_event(
                conn,
                incident.id,
                at=now,
                kind="update",
                actor=inv.principal.name,
                text=f"update ({audience}): {text}",
                source=f"audit:{audit_id}",
                audit_id=audit_id,
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

    async def link_alert(self, inv: Invocation) -> Message:
        from opsroom.alerts.tables import alert_groups

        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        group_id = int(inv.args["group"])
        now = self.clock()
        with self.db.begin() as conn:
            group = conn.execute(
                select(alert_groups.c.id, alert_groups.c.title).where(alert_groups.c.id == group_id)
            ).first()
            if group is None:
                return Message.plain(f"There is no alert group #{group_id}.", "warning")
            if not incident_store.link_group(conn, incident, group_id):
                return Message.plain(f"Alert group #{group_id} is already linked to {incident.label}.", "info")
            text = f"alert group #{group_id} linked: {group.title}"
            audit_id = self.audit.append_many(
                conn, [self._record(inv, incident, "incident.alert", f"{incident.label}: {text}", group=group_id)]
            )[0]
            incident_store.add_event(
                conn,
                incident.id,
                at=now,
                kind="alert",
                actor=inv.principal.name,
                text=text,
                source=f"audit:{audit_id}",
                audit_id=audit_id,
            )
        return Message.plain(f"🔗 {incident.label}: {text}; its changes join the timeline.", "success")

    async def followup(self, inv: Invocation) -> Message:
        """A task (``incident_tasks``) and a ticket through the configured ticket provider; due
        in a day while the incident is open, in a week once it is resolved (for the postmortem)."""
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        title = str(inv.args.get("title") or "").strip()
        if not title:
            return Message.plain("A follow-up needs a title: `incident followup add an alert on …`.", "warning")
        try:
            owner = self._person(str(inv.args.get("owner") or "me"), inv) or inv.principal.name
        except IncidentRuleError as exc:
            return Message.plain(str(exc), "warning")
        now = self.clock()
        due = now + dt.timedelta(days=7 if "resolved" in incident.state.milestones else 1)
        with self.db.begin() as conn:
            task_id = incident_store.add_task(conn, incident.id, title=title, owner=owner, due_at=due, now=now)
            audit_id = self.audit.append_many(
                conn,
                [self._record(inv, incident, "incident.followup", f"{incident.label}: follow-up {title} ({owner})")],
            )[0]
            incident_store.add_event(
                conn,
                incident.id,
                at=now,
                kind="task",
                actor=inv.principal.name,
                text=f"follow-up for {owner}: {title}",
                source=f"audit:{audit_id}",
                audit_id=audit_id,
            )
        ticket = await self._ticket(incident, task_id, title, owner, inv)
        where = f" · ticket {ticket}" if ticket else " · no ticket (the ticket provider did not answer; see the log)"
        return Message.plain(
            f"📋 {incident.label} follow-up #{task_id} for {owner}, due {due:%Y-%m-%d}{where}",
            "success" if ticket else "warning",
        )

    async def _ticket(self, incident: Incident, task_id: int, title: str, owner: str, inv: Invocation) -> str:
        if self.tickets is None:
            return ""
        from opsroom.integrations.tickets.base import NewTicket

        try:
            desk = self.tickets()
            if desk is None:
                return ""
            made = await desk.get().create(
                NewTicket(
                    title=f"[{incident.label}] {title}",
                    author=inv.principal.name,
                    labels=("incident", incident.slug),
                    body=f"Follow-up of {incident.label} {incident.title}, owner {owner}.",
                    dedup_key=f"{incident.slug}:task:{task_id}",
                    origin="incident",
                    origin_id=str(incident.id),
                    channel=incident.channel_name,
                )
            )
        except Exception:  # the task is stored; the ticket can be opened by hand
            log.exception("incident_followup_ticket_failed", incident=incident.id, task=task_id)
            return ""
        from opsroom.integrations.tickets.origins import provider_words

        ref = f"{made.ref} ({provider_words(desk.get())})"  # what people read: "#3 (built-in tracker)"
        with self.db.begin() as conn:
            incident_store.set_task_ticket(conn, task_id, ref)
        return ref

    # -- reading ----------------------------------------------------------------------------------
    async def listing(self, inv: Invocation) -> Message:
        with self.db.read() as conn:
            found = incident_store.listing(conn, open_only=True, final=self.final)
        if not found:
            return Message.plain('No open incidents. `incident declare "title" sev2 service=NAME` declares one.')
        lines = [
            f"*{i.label}* {i.title} · {i.state.severity} · {i.state.status} · "
            f"{i.state.roles.get(self.lead, 'no ' + self.lead)} · {i.channel_name}"
            for i in found
        ]
        return Message(f"{len(found)} open incidents", (Section("\n".join(lines)),))

    async def show_stats(self, inv: Invocation) -> Message:
        since = float(inv.args.get("since") or 90 * 86400)
        with self.db.read() as conn:
            found = incident_store.declared_since(conn, self.clock() - dt.timedelta(seconds=since))
        return stats.summary(found, since)

    async def show_timeline(self, inv: Invocation) -> Message:
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        with self.db.read() as conn:
            entries = timeline.entries(conn, incident)
        return timeline.as_message(incident, entries)

    async def write_postmortem(self, inv: Invocation) -> Message:
        incident = self.incident_for(inv)
        if incident is None:
            return self._missing(inv)
        with self.db.read() as conn:
            entries = timeline.entries(conn, incident)
            tasks = incident_store.tasks(conn, incident.id)
        text = postmortem.draft(incident, entries, self.config, tasks)
        where = ""
        if self.postmortem_dir is not None:
            self.postmortem_dir.mkdir(parents=True, exist_ok=True)
            path = self.postmortem_dir / f"{incident.slug}.md"
            path.write_text(text)
            where = f" · written to `{path}`"
        with self.db.begin() as conn:
            incident_store.set_postmortem(conn, incident.id, text)
            summary = f"{incident.label}: postmortem drafted ({len(text)} characters)"
            self.audit.append_many(conn, [self._record(inv, incident, "incident.postmortem", summary)])
        head = Section(
            f"📝 Postmortem draft for *{incident.label}* ({len(entries)} timeline entries){where}; "
            f"the console's incident page shows it whole."
        )
        if inv.command.name != "incident-postmortem":
            return Message(f"{incident.label} postmortem drafted", (head,), "success")
        shown, cut = tail(text, 3500, 80)
        note = (Context("showing the end; the console has all of it"),) if cut else ()
        return Message(f"{incident.label} postmortem drafted", (head, Code(shown), *note), "success")
