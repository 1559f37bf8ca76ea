"""Reading incidents: the open ones, their statistics, one's timeline, and its postmortem
draft (written to the postmortem folder when configured, and kept on the incident)."""

from __future__ import annotations

import datetime as dt

from opsroom.core import Code, Context, Invocation, Message, Section
from opsroom.incidents import postmortem, stats, timeline
from opsroom.incidents import store as incident_store
from opsroom.incidents.room import IncidentRoom
from opsroom.reporter import tail


class IncidentReading(IncidentRoom):
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
