"""Console pages of alerts: the list of alert groups and one group's page — its labels and
alerts, its state history (fired and resolved, from the alert source; acked, silenced,
unsilenced and escalated, with who, from the audit), the runs started from its buttons (they
run in the card's thread) and the tickets they or the alert opened.

Visibility follows chat, like the audit: you see a group posted in a channel you can read
(an auditor sees all); the pages need the policy's ``alerts``, the chat command that lists
them. Not there and not yours look the same (404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from opsroom.alerts.tables import alert_events, alert_groups, alerts
from opsroom.audit.visibility import AuditScope, scope_for
from opsroom.integrations.tickets import origins
from opsroom.runs import store as run_store
from opsroom.store.tables import audit_log, runs
from opsroom.store.types import as_utc
from opsroom.web.access import run_visible
from opsroom.web.context import CONSOLE_PLACE, Viewer, WebContext
from opsroom.web.tickets import BUILTIN, TicketEntry, from_origin, provider_words

PERMISSION = "alerts"
MAX_ID = 2**62
STATE_ACTIONS = {
    "alert.ack": "acknowledged",
    "alert.silence": "silenced",
    "alert.unsilence": "silence lifted",
    "alert.escalate": "escalated",
}


@dataclass(frozen=True)
class Change:
    at: dt.datetime | None
    what: str
    who: str
    detail: str
    audit_id: int | None = None


def history(conn: Any, group: Any) -> list[Change]:
    """Fired / resolved (the source says so) and ack / silence / escalation (people)."""
    out = [
        Change(as_utc(e.ts), "fired" if e.status == "firing" else e.status, "alert source", e.alertname)
        for e in conn.execute(
            select(alert_events).where(alert_events.c.group_id == group.id).order_by(alert_events.c.id).limit(500)
        )
    ]
    for row in conn.execute(
        select(audit_log)
        .where(audit_log.c.action.in_(list(STATE_ACTIONS)), audit_log.c.channel == group.channel_name)
        .order_by(audit_log.c.id.desc())
        .limit(2000)
    ):
        if isinstance(row.detail, dict) and row.detail.get("group") == group.id:
            out.append(Change(as_utc(row.ts), STATE_ACTIONS[row.action], row.actor, row.summary, row.id))
    if group.closed_at is not None:
        out.append(Change(as_utc(group.closed_at), "closed", "opsroom", "its resolution was posted"))
    return sorted(out, key=lambda c: c.at or dt.datetime.min.replace(tzinfo=dt.UTC))


def button_runs(conn: Any, group: Any) -> list[run_store.RunRow]:
    """Runs started from the card's buttons: they run in the card's thread."""
    roots = [r for r in (group.message_id, group.thread) if r]
    if not roots:
        return []
    ids = conn.execute(
        select(runs.c.id)
        .where(runs.c.platform == group.platform, runs.c.channel == group.channel, runs.c.thread.in_(roots))
        .order_by(runs.c.id)
        .limit(100)
    ).scalars()
    return [r for r in (run_store.get_run(conn, i) for i in ids) if r is not None]


def routes(ctx: WebContext) -> list[BaseRoute]:
    system = ctx.system

    def gate(request: Request) -> tuple[Viewer | None, Response | None]:
        return ctx.page_gate(request, PERMISSION)

    def scope(viewer: Viewer) -> AuditScope:
        return scope_for(viewer.principal, system.config.channels, system.engine.parts.policy, CONSOLE_PLACE)

    async def alerts_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        shown = {
            k: str(request.query_params.get(k, "")).replace("\x00", "")[:200].strip()
            for k in ("status", "severity", "q")
        }
        query = select(alert_groups).order_by(alert_groups.c.id.desc()).limit(1000)
        if shown["status"] in ("firing", "resolved"):
            query = query.where(alert_groups.c.status == shown["status"])
        if shown["severity"]:
            query = query.where(alert_groups.c.severity == shown["severity"])
        with system.db.read() as conn:
            found = conn.execute(query).all()
        seen = scope(viewer)
        groups = [g for g in found if seen.may_read_channel(g.channel_name)]
        if shown["q"]:
            groups = [g for g in groups if shown["q"].lower() in (g.title or "").lower()]
        return ctx.render("alerts.html", request, viewer, nav="alerts", groups=groups[:200], filters=shown)

    async def alert_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        gid = int(request.path_params["group_id"])
        with system.db.read() as conn:
            group = (
                conn.execute(select(alert_groups).where(alert_groups.c.id == gid)).first() if gid <= MAX_ID else None
            )
            if group is None or not scope(viewer).may_read_channel(group.channel_name):
                return ctx.render(
                    "error.html",
                    request,
                    viewer,
                    status=404,
                    nav="alerts",
                    message="There is no such alert you may see.",
                )
            members = conn.execute(
                select(alerts).where(alerts.c.group_id == gid).order_by(alerts.c.id).limit(200)
            ).all()
            changes = history(conn, group)
            started = [r for r in button_runs(conn, group) if run_visible(system.config, viewer.principal, r)]
            words = provider_words(system)
            opened: list[TicketEntry] = [
                from_origin(t, words)
                for t in [
                    *origins.opened_by(conn, "alert", [str(gid)]),
                    *origins.opened_by(conn, "run", [str(r.id) for r in started]),
                ]
            ]
        return ctx.render(
            "alert.html",
            request,
            viewer,
            nav="alerts",
            group=group,
            members=members,
            changes=changes,
            runs=started,
            tickets=opened,
            builtin=BUILTIN,
        )

    return [Route("/console/alerts", alerts_page), Route("/console/alerts/{group_id:int}", alert_page)]
