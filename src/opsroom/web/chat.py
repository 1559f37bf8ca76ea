"""The web chat's pages and live connection.

- ``GET /chat/{channel}``: the page (channels you belong to, your DM with the bot, history,
  the ``/`` command palette).
- ``GET /chat/{channel}/history?before=ID``: older messages, for scrolling back (top level
  only; ``after=ID`` catches up on everything, replies included).
- ``GET /chat/{channel}/thread/{id}``: a thread (its parent, then its replies), for the pane.
- ``POST /chat/{channel}/messages``: post (JSON ``{"text", "thread", "also_channel"}``, header
  ``X-CSRF-Token``); ``also_channel`` shows a reply in the channel too, linking to it.
- ``POST /chat/actions``: click a button (JSON ``{"message", "action"}``, same header).
- ``WS /chat/ws?channel=ID``: new and edited messages of that channel as they happen, and of
  the viewer's other channels (the page marks those unread).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from opsroom.chat.web import store as msg_store
from opsroom.chat.web.adapter import WebChatError
from opsroom.chat.web.channels import dm_id
from opsroom.chat.web.hub import CLIENT_GONE, Subscriber
from opsroom.web import intake
from opsroom.web.access import palette
from opsroom.web.context import SECURITY_HEADERS, Viewer, WebContext, parse_id

PAGE = 50
MAX_BODY = 16_000


def _int_param(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    found = parse_id(value)
    if found is None:
        raise ValueError("must be a message id (a positive whole number)")
    return found


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WebChatError("the request body is too large", 413)
    try:
        data = intake.loads(body or b"null")
    except intake.BadBody as exc:
        raise WebChatError(f"the body must be JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebChatError("the body must be a JSON object")
    return data


def same_origin(headers: Any) -> bool:
    """A browser's WebSocket or POST from another site must not ride on our cookie."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser (a script with its own cookie): no ambient authority to abuse
    host = str(headers.get("host", ""))
    return bool(urlsplit(str(origin)).netloc == host)


def also_channel(data: dict[str, Any], thread: Any) -> bool:
    """``"also_channel": true`` on a reply: show it in the channel too (Slack's checkbox)."""
    also = data.get("also_channel", False)
    if not isinstance(also, bool):
        raise WebChatError("`also_channel` must be true or false")
    if also and thread is None:
        raise WebChatError("`also_channel` is for a reply in a thread (give `thread`)")
    return also


def routes(ctx: WebContext) -> list[BaseRoute]:
    adapter = ctx.adapter

    def channel_list(viewer: Viewer) -> list[dict[str, str]]:
        return [
            {"id": c.id, "name": c.name, "description": c.description}
            for c in adapter.channels.visible(viewer.principal)
        ]

    def browser_viewer(request: Request) -> Viewer | None:
        return ctx.session_viewer(request)

    async def home(request: Request) -> Response:
        return RedirectResponse("/chat", status_code=303)

    async def chat_home(request: Request) -> Response:
        viewer = browser_viewer(request)
        if viewer is None:
            return ctx.to_login(request)
        channels = channel_list(viewer)
        target = channels[0]["id"] if channels else dm_id(viewer.principal.name)
        return RedirectResponse(f"/chat/{target}", status_code=303)

    async def chat_page(request: Request) -> Response:
        viewer = browser_viewer(request)
        if viewer is None:
            return ctx.to_login(request)
        cid = request.path_params["channel"]
        if not adapter.channels.may_see(viewer.principal, cid):
            return ctx.render(
                "error.html",
                request,
                viewer,
                status=404,
                nav="chat",
                message="There is no channel by that name that you belong to.",
            )
        with ctx.system.db.read() as conn:
            history = msg_store.page(conn, cid, viewer.principal.name, limit=PAGE, top_level=True)
            counts = msg_store.reply_counts(conn, [m.id for m in history])
        return ctx.render(
            "chat.html",
            request,
            viewer,
            nav="chat",
            channel=cid,
            channel_name=adapter.channels.name_of(cid),
            is_dm=cid == dm_id(viewer.principal.name),
            channels=channel_list(viewer),
            dm=dm_id(viewer.principal.name),
            messages=[adapter.html(m, replies=counts.get(m.id, 0)) for m in history],
            oldest=history[0].id if history else 0,
            newest=history[-1].id if history else 0,
            more=len(history) == PAGE,
            commands=palette(ctx.system, viewer.principal, adapter.channels.place(cid)),
        )

    async def history(request: Request) -> Response:
        viewer = browser_viewer(request)
        if viewer is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        cid = request.path_params["channel"]
        if not adapter.channels.may_see(viewer.principal, cid):
            return JSONResponse({"error": "no such channel"}, status_code=404)
        try:
            before = _int_param(request.query_params.get("before"))
            after = _int_param(request.query_params.get("after"))
        except ValueError as exc:
            return JSONResponse({"error": f"cursor {exc}"}, status_code=400)
        with ctx.system.db.read() as conn:
            found = msg_store.page(
                conn, cid, viewer.principal.name, before=before, after=after, limit=PAGE, top_level=after is None
            )
            counts = msg_store.reply_counts(conn, sorted({m.thread or m.id for m in found}))
        return JSONResponse(
            {
                "messages": [
                    adapter.event(
                        m, replies=counts.get(m.id, 0), parent_replies=counts.get(m.thread, 0) if m.thread else None
                    )
                    for m in found
                ],
                "more": len(found) == PAGE,
            },
            headers=SECURITY_HEADERS,
        )

    async def thread(request: Request) -> Response:
        viewer = browser_viewer(request)
        if viewer is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        cid = request.path_params["channel"]
        if not adapter.channels.may_see(viewer.principal, cid):
            return JSONResponse({"error": "no such channel"}, status_code=404)
        parent = parse_id(request.path_params["id"])
        if parent is None:
            return JSONResponse({"error": "the thread must be a message id"}, status_code=400)
        with ctx.system.db.read() as conn:
            found = msg_store.thread(conn, cid, viewer.principal.name, parent)
        if not found or found[0].id != parent or found[0].thread is not None:
            return JSONResponse({"error": f"there is no thread {parent} in this channel"}, status_code=404)
        return JSONResponse({"messages": [adapter.event(m) for m in found]}, headers=SECURITY_HEADERS)

    def _browser_post_check(request: Request, viewer: Viewer | None) -> Response | None:
        if viewer is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if not same_origin(request.headers):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        if not ctx.csrf_ok(viewer, request.headers.get("x-csrf-token")):
            return JSONResponse({"error": "missing or wrong CSRF token; reload the page"}, status_code=403)
        return None

    async def post_message(request: Request) -> Response:
        viewer = browser_viewer(request)
        refused = _browser_post_check(request, viewer)
        if refused is not None:
            return refused
        assert viewer is not None
        try:
            data = await read_json(request)
            text = data.get("text")
            thread = data.get("thread")
            if not isinstance(text, str):
                raise WebChatError("`text` must be a string")
            if thread is not None and (not isinstance(thread, int) or isinstance(thread, bool) or thread < 1):
                raise WebChatError("`thread` must be a message id")
            also = also_channel(data, thread)
            stored = await adapter.post(
                viewer.principal, request.path_params["channel"], text, thread, also_channel=also
            )
        except WebChatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"id": stored.id}, status_code=202)

    async def click(request: Request) -> Response:
        viewer = browser_viewer(request)
        refused = _browser_post_check(request, viewer)
        if refused is not None:
            return refused
        assert viewer is not None
        try:
            data = await read_json(request)
            message, action, reason = data.get("message"), data.get("action"), data.get("reason", "")
            if not isinstance(message, int) or isinstance(message, bool) or not isinstance(action, str):
                raise WebChatError("send `message` (a message id) and `action` (the button's id)")
            if not isinstance(reason, str):
                raise WebChatError("`reason` must be text")
            await adapter.click(viewer.principal, message, action, reason)
        except WebChatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"ok": True}, status_code=202)

    async def ws_post(viewer: Viewer, cid: str, raw: str) -> dict[str, Any]:
        try:
            if len(raw) > MAX_BODY:
                raise WebChatError("the message is too large", 413)
            try:
                data = intake.loads(raw)
            except intake.BadBody:
                raise WebChatError('send JSON: {"type": "post", "text": …}') from None
            if not isinstance(data, dict) or data.get("type") != "post" or not isinstance(data.get("text"), str):
                raise WebChatError('send JSON: {"type": "post", "text": …}')
            thread = data.get("thread")
            if thread is not None and (not isinstance(thread, int) or isinstance(thread, bool) or thread < 1):
                raise WebChatError("`thread` must be a message id")
            stored = await adapter.post(
                viewer.principal, cid, data["text"], thread, also_channel=also_channel(data, thread)
            )
        except WebChatError as exc:
            return {"type": "error", "error": str(exc), "status": exc.status}
        return {"type": "posted", "id": stored.id}

    async def live(websocket: WebSocket) -> None:
        viewer = ctx.session_viewer(websocket)
        cid = websocket.query_params.get("channel", "")
        if viewer is None or not same_origin(websocket.headers) or not adapter.channels.may_see(viewer.principal, cid):
            await websocket.close(code=4401 if viewer is None else 4403)
            return
        await websocket.accept()
        # Every channel the viewer belongs to: the open one is drawn, the others marked unread.
        others = {c["id"] for c in channel_list(viewer)} | {dm_id(viewer.principal.name)}
        sub = Subscriber(viewer.principal.name, {cid} | others)
        adapter.hub.subscribe(sub)

        async def reader() -> None:
            """Posts may also come over the socket: ``{"type": "post", "text", "thread"?}`` is
            answered with ``{"type": "posted", "id"}`` or ``{"type": "error", "error"}``. (No CSRF
            token here: the handshake's Origin was checked, and a cross-site page cannot read
            or write this socket.) When the browser goes away the writer below is told to stop."""
            try:
                while True:
                    raw = await websocket.receive_text()
                    answer = await ws_post(viewer, cid, raw)
                    sub.offer(json.dumps(answer, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError):
                return
            finally:
                sub.stop(CLIENT_GONE)

        read_task = asyncio.create_task(reader())
        try:
            # The writer: one plain queue wait per frame (no task per message; this loop runs
            # once per message per open socket).
            while True:
                data = await sub.queue.get()
                if sub.close_code is not None:  # too slow, server stopping, or the browser left
                    if sub.close_code != CLIENT_GONE:
                        await websocket.close(code=sub.close_code)
                    break
                await websocket.send_text(data)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            adapter.hub.unsubscribe(sub)
            read_task.cancel()

    return [
        Route("/", home),
        Route("/chat", chat_home),
        WebSocketRoute("/chat/ws", live),
        Route("/chat/actions", click, methods=["POST"]),
        Route("/chat/{channel}", chat_page),
        Route("/chat/{channel}/history", history),
        Route("/chat/{channel}/thread/{id}", thread),
        Route("/chat/{channel}/messages", post_message, methods=["POST"]),
    ]
