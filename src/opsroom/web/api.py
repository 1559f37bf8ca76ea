"""The JSON API (``/api/…``), documented by the OpenAPI spec at ``/api/openapi.json``.

Every call but the spec itself needs ``Authorization: Bearer opr_…`` (a personal token from
``opsroom token create --user NAME``) and acts as that token's user, with that user's
channel memberships and policy. Bad input gets a 4xx with ``{"error": "…"}``, never a 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from opsroom.audit.visibility import AuditScope, scope_for
from opsroom.chat.web import codec
from opsroom.chat.web import store as msg_store
from opsroom.chat.web.adapter import WebChatError
from opsroom.core import ParseError
from opsroom.errors import Refusal
from opsroom.runs import store as run_store
from opsroom.web.access import output_hidden, run_visible, visible_runs
from opsroom.web.chat import read_json
from opsroom.web.console import run_filters
from opsroom.web.context import CONSOLE_PLACE, Viewer, WebContext, api_error, parse_id
from opsroom.web.openapi import spec

Handler = Callable[[Request, Viewer], Awaitable[Response]]
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class BadRequest(Refusal):
    """The API request is not acceptable (400 with this text); nothing was changed."""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    value = parse_id(raw)
    if value is None or value > MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def _cursor(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise BadRequest(f"{name} must be a cursor from an earlier answer (a positive whole number)")
    return value


def json_id(value: Any) -> int | None:
    """An id from a JSON body: a whole number (2020 or 2020.0, as JSON Schema counts them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 < value < 2**62 else None


def message_json(stored: msg_store.StoredMessage) -> dict[str, Any]:
    return {
        "id": stored.id,
        "channel": stored.channel,
        "thread": stored.thread,
        "sender": stored.sender,
        "is_bot": stored.is_bot,
        "text": stored.text,
        "message": stored.body if stored.is_bot and stored.body is not None else None,
        "created_at": _iso(stored.created_at),
        "edited_at": _iso(stored.edited_at),
        "version": stored.version,
        "only_you": stored.visible_to is not None,
    }


def run_json(run: run_store.RunRow) -> dict[str, Any]:
    return {
        "id": run.id,
        "command": run.command,
        "args": run.args,
        "raw_text": run.raw_text,
        "user": run.user,
        "platform": run.platform,
        "channel": run.channel_name,
        "state": run.state.value,
        "dry_run": run.dry_run,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "exit_code": run.exit_code,
        "duration_s": run.duration,
        "result": run.result,
        "error": run.error,
    }


def routes(ctx: WebContext) -> list[BaseRoute]:
    system = ctx.system
    adapter = ctx.adapter

    def authed(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if "authorization" not in request.headers:
                return api_error(401, "send Authorization: Bearer <token> (opsroom token create --user NAME)")
            viewer = ctx.token_viewer(request)
            if viewer is None:
                return api_error(401, "that token is not valid (unknown, revoked or expired)")
            try:
                return await handler(request, viewer)
            except BadRequest as exc:
                return api_error(400, str(exc))
            except WebChatError as exc:
                return api_error(exc.status, str(exc))

        return endpoint

    def need_chat() -> None:
        if adapter is None:
            raise WebChatError("the web chat is switched off (chat.web.enabled: false)", 404)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec())

    async def me(request: Request, viewer: Viewer) -> Response:
        p = viewer.principal
        return JSONResponse({"user": p.name, "display_name": p.label, "roles": sorted(p.roles)})

    async def channels(request: Request, viewer: Viewer) -> Response:
        need_chat()
        found = [
            {"id": c.id, "name": c.name, "description": c.description}
            for c in adapter.channels.visible(viewer.principal)
        ]
        found.append(
            {
                "id": f"dm:{viewer.principal.name}",
                "name": "dm",
                "description": "your direct messages with opsroom",
            }
        )
        return JSONResponse({"channels": found})

    def channel_of(request: Request, viewer: Viewer) -> str:
        need_chat()
        cid = request.path_params["channel"]
        if not adapter.channels.may_see(viewer.principal, cid):
            raise WebChatError(f"there is no channel {cid!r} you belong to", 404)
        return str(cid)

    async def read_messages(request: Request, viewer: Viewer) -> Response:
        cid = channel_of(request, viewer)
        after = _cursor(request, "after")
        limit = _limit(request)
        with system.db.read() as conn:
            found = msg_store.page(conn, cid, viewer.principal.name, after=after or 0, limit=limit)
        cursor = str(found[-1].id) if found else (str(after) if after else None)
        return JSONResponse({"messages": [message_json(m) for m in found], "next_cursor": cursor})

    async def post_message(request: Request, viewer: Viewer) -> Response:
        cid = channel_of(request, viewer)
        data = await read_json(request)
        text, thread = data.get("text"), data.get("thread")
        unknown = set(data) - {"text", "thread", "also_channel"}
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        if not isinstance(text, str):
            raise BadRequest("`text` (a string) is required")
        if thread is not None:
            thread = json_id(thread)
            if thread is None:
                raise BadRequest("`thread` must be the id of a message in this channel")
        also = data.get("also_channel", False)
        if not isinstance(also, bool) or (also and thread is None):
            raise BadRequest("`also_channel` (true or false) is for a reply in a thread")
        stored = await adapter.post(viewer.principal, cid, text, thread, also_channel=also)
        return JSONResponse(message_json(stored), status_code=201)

    async def click(request: Request, viewer: Viewer) -> Response:
        need_chat()
        data = await read_json(request)
        unknown = set(data) - {"message_id", "action_id"}
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        message_id, action_id = json_id(data.get("message_id")), data.get("action_id")
        if message_id is None:
            raise BadRequest("`message_id` (the id of the message with the button) is required")
        if not isinstance(action_id, str) or not action_id or len(action_id) > 4000:
            raise BadRequest("`action_id` (the button's action id) is required")
        await adapter.click(viewer.principal, message_id, action_id)
        return JSONResponse({"accepted": True}, status_code=202)

    async def check(request: Request, viewer: Viewer) -> Response:
        """What would happen if the caller typed ``text`` in ``channel``: the same pipeline
        steps as chat, run without writing anything (``opsroom.engine.check``)."""
        from opsroom.engine.check import check as run_check
        from opsroom.engine.check import place_of

        data = await read_json(request)
        unknown = set(data) - {"text", "channel", "platform"}
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        text, channel = data.get("text"), data.get("channel", "#ops")
        platform = data.get("platform", "web")
        if not isinstance(text, str) or not text.strip() or len(text) > 4000:
            raise BadRequest("`text` (the command as typed) is required")
        if not isinstance(channel, str) or not channel or len(channel) > 200:
            raise BadRequest("`channel` must be a channel name like #ops, or dm")
        if not isinstance(platform, str) or not platform or len(platform) > 50:
            raise BadRequest("`platform` must be a platform name")
        engine = system.engine
        verdict = await run_check(
            engine.parts.pipeline,
            engine.services,
            viewer.principal,
            place_of(channel, platform),
            text,
            people=list(engine.parts.directory),
        )
        return JSONResponse(
            {
                "outcome": verdict.outcome,
                "parsed": verdict.parsed,
                "error": verdict.error,
                "reason": verdict.refusal or verdict.stop_text or verdict.reason,
                "rules": list(verdict.rule_ids),
                "needs": verdict.need_kinds,
                "notes": verdict.notes,
            }
        )

    def may(viewer: Viewer, action: str) -> None:
        if not ctx.may(viewer.principal, action):
            raise WebChatError(f"you may not do this (it needs permission for `{action}`)", 403)

    async def list_runs(request: Request, viewer: Viewer) -> Response:
        may(viewer, "runs")
        params = request.query_params
        state = params.get("state")
        filters, shown = run_filters(params)
        if state and not shown["state"]:
            raise BadRequest(f"state {state[:40]!r} is not a run state")
        rows, cursor = visible_runs(
            system, viewer.principal, limit=_limit(request), before_id=_cursor(request, "before"), **filters
        )
        return JSONResponse({"runs": [run_json(r) for r in rows], "next_cursor": str(cursor) if cursor else None})

    def load_run(request: Request, viewer: Viewer) -> run_store.RunRow:
        may(viewer, "runs")
        run_id = parse_id(request.path_params["run_id"])
        run = None
        if run_id is not None:
            with system.db.read() as conn:
                run = run_store.get_run(conn, run_id)
        if run is None or not run_visible(system.config, viewer.principal, run):
            raise WebChatError("there is no such run that you can see", 404)
        return run

    async def get_run(request: Request, viewer: Viewer) -> Response:
        return JSONResponse(run_json(load_run(request, viewer)))

    async def run_output(request: Request, viewer: Viewer) -> Response:
        run = load_run(request, viewer)
        hidden = output_hidden(system, viewer.principal, run)
        if hidden:
            raise WebChatError(hidden, 403)
        live = system.runs.live.get(run.id)
        output = "".join(live.output) if live is not None else run.output
        return JSONResponse(
            {
                "run_id": run.id,
                "state": run.state.value,
                "output": output,
                "truncated": bool(live.truncated if live is not None else run.output_truncated),
            }
        )

    async def approvals(request: Request, viewer: Viewer) -> Response:
        may(viewer, "approvals")
        guardrails = system.engine.guardrails
        theirs, mine = guardrails.waiting_for(viewer.principal) if guardrails is not None else ([], [])

        def item(pair: Any) -> dict[str, Any]:
            hold, run = pair
            return {
                "run_id": run.id,
                "kind": hold.kind,
                "command": run.command,
                "raw_text": run.raw_text,
                "requester": hold.requester,
                "channel": run.channel_name,
                "created_at": _iso(hold.created_at),
                "expires_at": _iso(hold.expires_at),
            }

        return JSONResponse({"waiting_for_me": [item(p) for p in theirs], "mine": [item(p) for p in mine]})

    async def audit(request: Request, viewer: Viewer) -> Response:
        may(viewer, "audit")
        query = request.query_params.get("q", "")
        if len(query) > 1000:
            raise BadRequest("q is too long (at most 1000 characters)")
        limit = _limit(request)
        try:
            parsed = system.audit.parse(query)
        except ParseError as exc:
            raise BadRequest(str(exc)) from None
        entries = system.audit.search(
            parsed, limit=limit, before_id=_cursor(request, "before"), scope=audit_scope(viewer)
        )
        return JSONResponse(
            {
                "query": parsed.describe(),
                "entries": [
                    {
                        "id": e.id,
                        "ts": _iso(e.ts),
                        "actor": e.actor,
                        "action": e.action,
                        "command": e.command,
                        "platform": e.platform,
                        "channel": e.channel,
                        "run_id": e.run_id,
                        "summary": e.summary,
                        "detail": e.detail,
                        "hash": e.hash,
                    }
                    for e in entries
                ],
                "next_cursor": str(entries[-1].id) if len(entries) == limit else None,
            }
        )

    def audit_scope(viewer: Viewer) -> AuditScope:
        return scope_for(viewer.principal, system.config.channels, system.engine.parts.policy, CONSOLE_PLACE)

    async def audit_export(request: Request, viewer: Viewer) -> Response:
        """JSON Lines, oldest first, only what this token's user may see."""
        may(viewer, "audit")
        query = request.query_params.get("q", "")
        if len(query) > 1000:
            raise BadRequest("q is too long (at most 1000 characters)")
        try:
            parsed = system.audit.parse(query)
        except ParseError as exc:
            raise BadRequest(str(exc)) from None
        lines = system.audit.export_lines(parsed, scope=audit_scope(viewer))
        return StreamingResponse(
            lines,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="opsroom-audit.jsonl"'},
        )

    return [
        Route("/api/openapi.json", openapi),
        Route("/api/me", authed(me)),
        Route("/api/channels", authed(channels)),
        Route("/api/channels/{channel}/messages", authed(read_messages), methods=["GET"]),
        Route("/api/channels/{channel}/messages", authed(post_message), methods=["POST"]),
        Route("/api/actions", authed(click), methods=["POST"]),
        Route("/api/check", authed(check), methods=["POST"]),
        Route("/api/runs", authed(list_runs)),
        Route("/api/runs/{run_id}", authed(get_run)),
        Route("/api/runs/{run_id}/output", authed(run_output)),
        Route("/api/approvals", authed(approvals)),
        Route("/api/audit", authed(audit)),
        Route("/api/audit/export", authed(audit_export)),
    ]


__all__ = ["codec", "message_json", "routes", "run_json"]
