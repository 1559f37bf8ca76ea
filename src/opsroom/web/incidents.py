"""Console pages of incidents: the list and one incident's page (fields, roles, milestones,
the whole timeline with links to the audit rows, the postmortem draft).

Visibility follows chat, like the audit: you see an incident when you can read its war room
(its channel's members admit you; an auditor sees all), and the page needs the policy's
``incident-timeline``, the chat command that shows the same timeline."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from opsroom.audit.visibility import scope_for
from opsroom.incidents import store as incident_store
from opsroom.incidents import timeline
from opsroom.web.context import CONSOLE_PLACE, Viewer, WebContext

PERMISSION = "incident-timeline"


def routes(ctx: WebContext) -> list[BaseRoute]:
    system = ctx.system

    def gate(request: Request) -> tuple[Viewer | None, Response | None]:
        return ctx.page_gate(request, PERMISSION)

    def readable(viewer: Viewer) -> Any:
        scope = scope_for(viewer.principal, system.config.channels, system.engine.parts.policy, CONSOLE_PLACE)
        return lambda incident: scope.may_read_channel(incident.channel_name)

    async def incidents_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        final = next(s.name for s in system.config.incidents.statuses if s.final)
        with system.db.read() as conn:
            found = incident_store.listing(conn, open_only=False, final=final, limit=200)
        may = readable(viewer)
        return ctx.render(
            "incidents.html", request, viewer, nav="incidents", incidents=[i for i in found if may(i)], final=final
        )

    async def incident_page(request: Request) -> Response:
        viewer, refused = gate(request)
        if refused is not None:
            return refused
        assert viewer is not None
        with system.db.read() as conn:
            incident = incident_store.get(conn, int(request.path_params["incident_id"]))
            entries = timeline.entries(conn, incident) if incident is not None else []
        if incident is None or not readable(viewer)(incident):
            # Not there, or not yours to see: the same answer, so ids reveal nothing.
            return ctx.render(
                "error.html",
                request,
                viewer,
                status=404,
                nav="incidents",
                message="There is no such incident you may see.",
            )
        return ctx.render(
            "incident.html",
            request,
            viewer,
            nav="incidents",
            incident=incident,
            entries=entries,
            lead=next(r.name for r in system.config.incidents.roles if r.lead),
        )

    return [Route("/console/incidents", incidents_page), Route("/console/incidents/{incident_id:int}", incident_page)]
