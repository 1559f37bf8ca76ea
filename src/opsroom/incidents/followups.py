"""What an incident links to: alert groups (their changes join its timeline) and follow-up
tasks, each with a ticket through the tickets plugin's desk when there is one."""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import select

from opsroom.core import Invocation, Message
from opsroom.incidents import store as incident_store
from opsroom.incidents.lifecycle import IncidentRuleError
from opsroom.incidents.room import IncidentRoom
from opsroom.incidents.store import Incident

log = structlog.get_logger("opsroom.incidents")


class IncidentFollowups(IncidentRoom):
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
            self._on_timeline(
                conn,
                inv,
                incident.id,
                self._record(inv, incident, "incident.alert", f"{incident.label}: {text}", group=group_id),
                kind="alert",
                text=text,
                now=now,
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
            self._on_timeline(
                conn,
                inv,
                incident.id,
                self._record(inv, incident, "incident.followup", f"{incident.label}: follow-up {title} ({owner})"),
                kind="task",
                text=f"follow-up for {owner}: {title}",
                now=now,
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
