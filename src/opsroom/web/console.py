"""The console: runs, a run's page with its live output, approvals waiting for you, audit
search with the chain status, and a dashboard. Same sign-in as the chat; each page is
allowed when the matching chat command (``runs``, ``approvals``, ``audit``) would be."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from opsroom.audit.visibility import scope_for
from opsroom.core import ParseError, RunState
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store
from opsroom.web.access import output_hidden, run_links, run_visible, visible_runs
from opsroom.web.context import CONSOLE_PLACE, SECURITY_HEADERS, Viewer, WebContext, parse_id
from opsroom.web.stats import dashboard

VERIFY_CACHE_SECONDS = 30.0
MAX_ID = 2**62
STREAM_POLL = 0.25
ACTIVE = tuple(lifecycle.ACTIVE)


def run_filters(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Query parameters -> list_runs filters (unknown states are ignored, not an error)."""
    # NUL can be in no stored value, and PostgreSQL refuses it in a query: drop it.
    shown = {
        k: str(params.get(k, "")).replace("\x00", "")[:200].strip() for k in ("state", "command", "user", "channel")
    }
    filters: dict[str, Any] = {}
    if shown["state"]:
        try:
            filters["states"] = [RunState(shown["state"])]
        except ValueError:
            shown["state"] = ""
    for key in ("command", "user", "channel"):
        if shown[key]:
            filters[key] = shown[key]
    return filters, shown


class ChainStatus:
    """``verify`` walks the whole chain: cache the answer for a little while."""

    def __init__(self) -> None:
        self._at = 0.0
        self._report: Any = None

    def get(self, audit: Any) -> Any:
        if self._report is None or time.monotonic() - self._at > VERIFY_CACHE_SECONDS:
            self._report = audit.verify()
            self._at = time.monotonic()
        return self._report


def routes(ctx: WebContext) -> list[BaseRoute]:
    system = ctx.system
    chain = ChainStatus()

    gate = ctx.page_gate  # the console's door: sign-in, then the page's permission

    async def runs_page(request: Request) -> Response:
        viewer, refused = gate(request, "runs")
        if refused is not None:
            return refused
        assert viewer is not None
        filters, shown = run_filters(request.query_params)
        rows, cursor = visible_runs(
            system,
            viewer.principal,
            limit=50,
            before_id=parse_id(request.query_params.get("before")),
            **filters,
        )
        return ctx.render(
            "runs.html",
            request,
            viewer,
            nav="runs",
            runs=rows,
            filters=shown,
            cursor=cursor,
            states=[s.value for s in RunState],
            commands=[s.name for s in system.engine.parts.catalog],
        )

    def load_run(request: Request, viewer: Viewer) -> run_store.RunRow | None:
        raw = request.path_params["run_id"]
        if raw > MAX_ID:
            return None
        with system.db.read() as conn:
            run = run_store.get_run(conn, raw)
        return run if run is not None and run_visible(system.config, viewer.principal, run) else None

    async def run_page(request: Request) -> Response:
        viewer, refused = gate(request, "runs")
        if refused is not None:
            return refused
        assert viewer is not None
        run = load_run(request, viewer)
        if run is None:
            return ctx.render(
                "error.html",
                request,
                viewer,
                status=404,
                nav="runs",
                message="There is no such run that you can see.",
            )
        from opsroom.guardrails import approvals as book

        with system.db.read() as conn:
            hold = book.latest_hold(conn, run.id)
            votes = book.votes_for(conn, run.id)
            related = run_links(system, conn, run)
        hidden = output_hidden(system, viewer.principal, run)
        return ctx.render(
            "run.html",
            request,
            viewer,
            nav="runs",
            run=run,
            hold=hold,
            votes=votes,
            output=None if hidden else run.output,
            hidden=hidden,
            live=run.state in ACTIVE,
            audit=system.audit.for_run(run.id),
            may_approve=_may_act(viewer, run, hold),
            **related,
        )

    def _may_act(viewer: Viewer, run: run_store.RunRow, hold: Any) -> bool:
        guardrails = system.engine.guardrails
        if guardrails is None or hold is None or hold.kind != "approval" or hold.state != "pending":
            return False
        from opsroom.guardrails import approvals as book

        return book.refusal(viewer.principal, hold, system.engine.parts.directory.get(hold.requester)) is None

    async def run_stream(request: Request) -> Response:
        """Server-sent events: ``output`` (new text), then ``done`` (the final state)."""
        viewer, refused = gate(request, "runs")
        if refused is not None:
            return Response("sign in first", status_code=401) if viewer is None else refused
        assert viewer is not None
        run = load_run(request, viewer)
        if run is None:
            return Response("no such run", status_code=404)
        if output_hidden(system, viewer.principal, run):
            return Response("the output of this run is private", status_code=403)
        run_id = run.id

        async def events() -> AsyncIterator[str]:
            sent = 0
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    return
                live = system.runs.live.get(run_id)
                if live is not None:
                    text = "".join(live.output)
                    if len(text) > sent:
                        yield f"event: output\ndata: {json.dumps(text[sent:])}\n\n"
                        sent = len(text)
                else:
                    with system.db.read() as conn:
                        current = run_store.get_run(conn, run_id)
                    if current is None:
                        return
                    if current.state not in ACTIVE:
                        if len(current.output) > sent:
                            yield f"event: output\ndata: {json.dumps(current.output[sent:])}\n\n"
                        yield f"event: done\ndata: {json.dumps({'state': current.state.value})}\n\n"
                        return
                await asyncio.sleep(STREAM_POLL)

        headers = dict(SECURITY_HEADERS)
        headers["X-Accel-Buffering"] = "no"
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def approvals_page(request: Request) -> Response:
        viewer, refused = gate(request, "approvals")
        if refused is not None:
            return refused
        assert viewer is not None
        guardrails = system.engine.guardrails
        theirs, mine = guardrails.waiting_for(viewer.principal) if guardrails is not None else ([], [])
        return ctx.render(
            "approvals.html",
            request,
            viewer,
            nav="approvals",
            theirs=theirs,
            mine=mine,
            flash=request.query_params.get("flash", "")[:300],
        )

    async def approvals_count(request: Request) -> Response:
        """The Approvals badge: how many runs wait for the signed-in person's vote."""
        viewer = ctx.session_viewer(request)
        if viewer is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        return JSONResponse({"count": ctx.approvals_waiting(viewer)}, headers=SECURITY_HEADERS)

    async def approval_vote(request: Request) -> Response:
        viewer = ctx.session_viewer(request)
        if viewer is None:
            return ctx.to_login(request)
        form = await request.form()
        if not ctx.csrf_ok(viewer, str(form.get("csrf", ""))):
            return ctx.render(
                "error.html",
                request,
                viewer,
                status=403,
                nav="approvals",
                message="The form expired; reload the page and try again.",
            )
        guardrails = system.engine.guardrails
        raw = request.path_params["run_id"]
        vote = request.path_params["vote"]
        if guardrails is None or vote not in ("approve", "deny") or raw > MAX_ID:
            return ctx.render(
                "error.html",
                request,
                viewer,
                status=404,
                nav="approvals",
                message="Approvals are not configured here.",
            )
        decision = system.engine.authorize_action(viewer.principal, vote, {"id": raw}, CONSOLE_PLACE)
        if not decision.allowed:
            answer = f"⛔ {decision.reason}"
        else:
            if vote == "approve":
                said = await guardrails.approve(raw, viewer.principal, CONSOLE_PLACE, via="console")
            else:
                reason = " ".join(str(form.get("reason", "")).split())[:300]
                if not reason:  # a denial always says why (it is audited and shown to the requester)
                    from urllib.parse import quote

                    flash = quote(f"Say why you deny run #{raw}.")
                    return RedirectResponse(f"/console/approvals?flash={flash}", status_code=303)
                said = await guardrails.deny(raw, viewer.principal, CONSOLE_PLACE, reason, via="console")
            # None: guardrails told the run's channel themselves.
            answer = said.as_text() if said is not None else f"Run #{raw}: your {vote} was recorded."
        from urllib.parse import quote

        back = "/console/approvals" if form.get("back") != "run" else f"/console/runs/{raw}"
        return RedirectResponse(f"{back}?flash={quote(answer[:300])}", status_code=303)

    async def audit_page(request: Request) -> Response:
        viewer, refused = gate(request, "audit")
        if refused is not None:
            return refused
        assert viewer is not None
        query = request.query_params.get("q", "")[:1000]
        error = ""
        entries: list[Any] = []
        described = ""
        try:
            parsed = system.audit.parse(query)
            described = parsed.describe()
            scope = scope_for(viewer.principal, system.config.channels, system.engine.parts.policy, CONSOLE_PLACE)
            entries = system.audit.search(
                parsed, limit=50, before_id=parse_id(request.query_params.get("before")), scope=scope
            )
        except ParseError as exc:
            error = str(exc)
        return ctx.render(
            "audit.html",
            request,
            viewer,
            nav="audit",
            q=query,
            entries=entries,
            error=error,
            described=described,
            chain=chain.get(system.audit),
            cursor=entries[-1].id if len(entries) == 50 else None,
        )

    async def dashboard_page(request: Request) -> Response:
        viewer, refused = gate(request, "runs")
        if refused is not None:
            return refused
        assert viewer is not None
        return ctx.render("dashboard.html", request, viewer, nav="dashboard", data=dashboard(system.db))

    async def console_home(request: Request) -> Response:
        return RedirectResponse("/console/runs", status_code=303)

    return [
        Route("/console", console_home),
        Route("/console/runs", runs_page),
        Route("/console/runs/{run_id:int}", run_page),
        Route("/console/runs/{run_id:int}/stream", run_stream),
        Route("/console/approvals", approvals_page),
        Route("/console/approvals/count", approvals_count),
        Route("/console/approvals/{run_id:int}/{vote}", approval_vote, methods=["POST"]),
        Route("/console/audit", audit_page),
        Route("/console/dashboard", dashboard_page),
    ]
