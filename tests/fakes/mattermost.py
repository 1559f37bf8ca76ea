"""A local stand-in for a Mattermost server: the REST API v4 calls and the WebSocket events
opsroom uses, recording every call. No real Mattermost server can run on these machines.

Shapes follow Mattermost's published docs:
- REST API v4 (``GET /users/me``, ``GET /users/{id}``, ``POST /posts`` with ``root_id`` and
  ``props.attachments``, ``PUT /posts/{id}/patch``, ``POST /posts/ephemeral``, errors as
  ``{"id", "message", "status_code"}``): https://developers.mattermost.com/api-documentation/
- WebSocket (``hello``, ``authentication_challenge`` → ``{"status": "OK", "seq_reply": 1}``,
  ``posted`` with the post as a JSON string in ``data.post`` and ``data.mentions`` a JSON
  string list of user ids): https://developers.mattermost.com/integrate/reference/websocket/
  (also api.mattermost.com "WebSocket" section)
- Slash commands (form fields ``channel_id``, ``channel_name``, ``command``, ``team_domain``,
  ``team_id``, ``text``, ``token``, ``trigger_id``, ``user_id``, ``user_name``,
  ``response_url``): https://developers.mattermost.com/integrate/slash-commands/custom/
- Permissions: the bot account has the Member role unless a test makes it a system admin;
  ``POST /posts/ephemeral`` needs ``create_post_ephemeral`` (system admins only) and answers
  403 otherwise; ``POST /posts`` into a channel the bot is not a member of is a 403
  ("You do not have the appropriate permissions."): server/channels/api4/post.go,
  server/public/model/role.go
- Slash command ``response_url``: ``{SiteURL}/hooks/commands/{id}``, a JSON command response
  (``response_type``, ``text``, ``props``) posted as the command's user into its channel and
  ``root_id``; 30 minutes (``CommandWebhookLifetime``), five uses (``TryUse(id, 5)``):
  server/channels/app/command.go, server/public/model/command_webhook.go
- Channel history (``GET /channels/{id}/posts?since=<ms>`` → ``{"order": [...], "posts": {...}}``,
  every post changed since then; ``GET /channels/{id}`` with ``type`` O/P/D/G and ``name``):
  https://developers.mattermost.com/api-documentation/#/operations/GetPostsForChannel
- Interactive message buttons (``integration: {url, context}``; the click POSTs
  ``user_id``, ``user_name``, ``channel_id``, ``team_id``, ``post_id``, ``trigger_id``,
  ``type``, ``context``): https://developers.mattermost.com/integrate/plugins/interactive-messages/
- Interactive dialogs (``POST /actions/dialogs/open`` with ``trigger_id``, ``url``, ``dialog``;
  the trigger id names the clicker and expires after 3 s (``InteractiveDialogTriggerTimeout``),
  and a client opens one dialog per trigger; the dialog is checked by ``OpenDialogRequest.IsValid``:
  title 1–24 characters, element display names ≤ 24, names ≤ 300 and unique, help texts ≤ 150,
  text ≤ 150 / textarea ≤ 3000 for default and placeholder, 0 ≤ min_length ≤ max_length, known
  types; the submission POSTs ``type: dialog_submission``, ``callback_id``, ``state``,
  ``user_id`` (from the session), ``channel_id``, ``team_id``, ``submission``, ``cancelled``, and
  a cancel is sent only with ``notify_on_cancel``): server/public/model/integration_action.go,
  https://developers.mattermost.com/integrate/plugins/interactive-dialogs/
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from tests.fakes.platform_limits import mattermost_post_errors

BOT_TOKEN = "mm-bot-token-0123456789abcdef"
BOT_ID = "botuserid0000000000000000a"
TEAM_ID = "teamid00000000000000000000"
COMMAND_TOKEN = "xr3j5x3p4pfk7kk6ck7b4e6ghh"
TRIGGER_TIMEOUT_MS = 3000  # model.InteractiveDialogTriggerTimeoutMilliseconds
ELEMENT_TYPES = {"text", "textarea", "select", "bool", "radio", "date", "datetime"}
TEXT_SUBTYPES = {"", "text", "email", "number", "tel", "url", "password"}


def new_id() -> str:
    return secrets.token_hex(13)  # 26 lowercase alphanumerics, like Mattermost ids


@dataclass
class Call:
    method: str
    path: str
    body: Any
    at: float


@dataclass
class FakeMattermost:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    rate_limits: list[int] = field(default_factory=list)  # Retry-After of the next 429s on POST /posts
    connections: int = 0
    bot_is_admin: bool = False  # the documented setup gives the bot the Member role
    members: set[str] | None = None  # channels the bot is in (None: every channel)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # response_url id -> its command
    responses: list[dict[str, Any]] = field(default_factory=list)  # what response_urls posted
    base_url: str = ""
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {id, type, name}
    sockets_down: bool = False  # while True, event sockets are refused (posts still land)
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger_id -> clicker, channel, time
    dialogs: list[dict[str, Any]] = field(default_factory=list)  # opened dialogs (with the trigger's user)
    _sockets: list[WebSocket] = field(default_factory=list)
    _seq: int = 0

    def app(self) -> Starlette:
        self.users.setdefault(BOT_ID, {"id": BOT_ID, "username": "opsroom", "email": "", "is_bot": True})
        return Starlette(
            routes=[
                Route("/api/v4/users/me", self._me, methods=["GET"]),
                Route("/api/v4/users/{user_id}", self._user, methods=["GET"]),
                Route("/api/v4/posts", self._create_post, methods=["POST"]),
                Route("/api/v4/posts/ephemeral", self._ephemeral, methods=["POST"]),
                Route("/api/v4/posts/{post_id}", self._get_post, methods=["GET"]),
                Route("/api/v4/posts/{post_id}/patch", self._patch_post, methods=["PUT"]),
                Route("/api/v4/channels/{channel_id}/posts", self._channel_posts, methods=["GET"]),
                Route("/api/v4/channels/{channel_id}", self._channel, methods=["GET"]),
                Route("/api/v4/actions/dialogs/open", self._open_dialog, methods=["POST"]),
                Route("/hooks/commands/{hook_id}", self._command_hook, methods=["POST"]),
                WebSocketRoute("/api/v4/websocket", self._websocket),
            ]
        )

    def trigger(self, user_id: str, channel_id: str) -> str:
        """A trigger id as the server makes one for a click (base64 of id:user:millis:signature)."""
        millis = int(time.time() * 1000)
        raw = f"{new_id()}:{user_id}:{millis}:{base64.b64encode(secrets.token_bytes(8)).decode()}"
        trigger = base64.b64encode(raw.encode()).decode()
        self.triggers[trigger] = {"user_id": user_id, "channel_id": channel_id, "at": millis, "used": False}
        return trigger

    def click(self, context: dict[str, Any], *, user_id: str, post_id: str, channel_id: str = "") -> dict[str, Any]:
        """A button click's POST body, with a fresh trigger id for the clicker."""
        channel = channel_id or str(context.get("channel_id", ""))
        body = action_click(context, user_id=user_id, post_id=post_id, channel_id=channel)
        body["trigger_id"] = self.trigger(user_id, channel)
        return body

    async def _open_dialog(self, request: Request) -> JSONResponse:
        body, err = await self._enter(request)
        if err:
            return err
        if not isinstance(body, dict):
            return self._error(400, "Invalid or missing dialog in request body.")
        problems = dialog_errors(body)
        if problems:
            return self._error(400, "; ".join(problems))
        trigger = self.triggers.get(body["trigger_id"])
        if trigger is None:
            return self._error(400, "Unable to decode the trigger ID.")
        if int(time.time() * 1000) - trigger["at"] > TRIGGER_TIMEOUT_MS:
            return self._error(400, "Trigger ID for interactive dialog is expired. Trigger IDs live for 3s.")
        if trigger["used"]:
            return self._error(400, "Trigger ID was already used to open a dialog.")
        trigger["used"] = True
        self.dialogs.append({**body, "user_id": trigger["user_id"], "channel_id": trigger["channel_id"]})
        return JSONResponse({"status": "OK"})

    async def submit_dialog(
        self,
        dialog: dict[str, Any],
        submission: dict[str, Any] | None = None,
        *,
        cancelled: bool = False,
        http: httpx.AsyncClient,
    ) -> httpx.Response | None:
        """What the server POSTs to the dialog's URL when its user submits (or cancels) it;
        None when nothing is sent (a cancel without ``notify_on_cancel``)."""
        if cancelled and not dialog["dialog"].get("notify_on_cancel"):
            return None
        body = {
            "type": "dialog_submission",
            "callback_id": dialog["dialog"].get("callback_id", ""),
            "state": dialog["dialog"].get("state", ""),
            "user_id": dialog["user_id"],
            "channel_id": dialog["channel_id"],
            "team_id": TEAM_ID,
            "submission": {} if cancelled else (submission or {}),
            "cancelled": cancelled,
        }
        return await http.post(dialog["url"], json=body)

    def response_url(self, user_id: str, channel_id: str, root_id: str = "") -> str:
        hook = new_id()
        self.hooks[hook] = {"user_id": user_id, "channel_id": channel_id, "root_id": root_id, "uses": 0}
        return f"{self.base_url}/hooks/commands/{hook}"

    def seen_by(self, user_id: str) -> list[str]:
        """Every private answer ``user_id`` could see (ephemeral posts, ephemeral command
        responses). Click answers (``ephemeral_text``) are in the click's HTTP response."""
        texts = [e["message"] for e in self.ephemerals if e["user_id"] == user_id]
        texts += [r["text"] for r in self.responses if r["response_type"] == "ephemeral" and r["user_id"] == user_id]
        return texts

    async def _command_hook(self, request: Request) -> JSONResponse:
        hook = self.hooks.get(request.path_params["hook_id"])
        if hook is None or hook["uses"] >= 5:
            return self._error(400, "Unable to get the command webhook or it has been used too many times.")
        hook["uses"] += 1
        body = json.loads(await request.body())
        response = {**body, "user_id": hook["user_id"], "channel_id": hook["channel_id"], "root_id": hook["root_id"]}
        response.setdefault("response_type", "ephemeral")
        self.responses.append(response)
        if response["response_type"] == "in_channel":  # posted as the user, with the webhook marker
            post = self._post(
                {
                    "channel_id": hook["channel_id"],
                    "root_id": hook["root_id"],
                    "message": body.get("text", ""),
                    "props": {**(body.get("props") or {}), "from_webhook": "true"},
                }
            )
            post["user_id"] = hook["user_id"]
            self.posts[post["id"]] = post
        return JSONResponse({"status": "OK"})

    async def _channel_posts(self, request: Request) -> JSONResponse:
        _, err = await self._enter(request)
        if err:
            return err
        channel = request.path_params["channel_id"]
        since = int(request.query_params.get("since", "0"))
        posts = {
            i: p
            for i, p in self.posts.items()
            if p["channel_id"] == channel and max(p["create_at"], p["update_at"]) > since
        }
        order = sorted(posts, key=lambda i: posts[i]["create_at"], reverse=True)
        return JSONResponse({"order": order, "posts": posts, "next_post_id": "", "prev_post_id": ""})

    async def _channel(self, request: Request) -> JSONResponse:
        _, err = await self._enter(request)
        channel = self.channels.get(request.path_params["channel_id"])
        return err or (JSONResponse(channel) if channel else self._error(404, "Unable to find the channel."))

    def of(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    @staticmethod
    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse(
            {"id": "api.context.error", "message": message, "status_code": status, "request_id": new_id()},
            status_code=status,
        )

    async def _enter(self, request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.calls.append(Call(request.method, request.url.path.removeprefix("/api/v4"), body, time.monotonic()))
        if request.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return body, self._error(401, "Invalid or expired session, please login again.")
        return body, None

    async def _me(self, request: Request) -> JSONResponse:
        _, err = await self._enter(request)
        return err or JSONResponse(self.users[BOT_ID])

    async def _user(self, request: Request) -> JSONResponse:
        _, err = await self._enter(request)
        user = self.users.get(request.path_params["user_id"])
        return err or (JSONResponse(user) if user else self._error(404, "Unable to find the user."))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "id": new_id(),
            "create_at": now,
            "update_at": now,
            "edit_at": 0,
            "delete_at": 0,
            "user_id": BOT_ID,
            "channel_id": body.get("channel_id", ""),
            "root_id": body.get("root_id", ""),
            "message": body.get("message", ""),
            "type": "",
            "props": body.get("props") or {},
        }

    async def _create_post(self, request: Request) -> JSONResponse:
        body, err = await self._enter(request)
        if err:
            return err
        if self.rate_limits:
            return JSONResponse(
                {"message": "too many requests"},
                status_code=429,
                headers={"Retry-After": str(self.rate_limits.pop(0))},
            )
        if not body.get("channel_id"):
            return self._error(400, "Invalid channel_id")
        if body.get("root_id") and body["root_id"] not in self.posts:
            return self._error(400, "Invalid RootId parameter.")
        if mattermost_post_errors(body):
            return self._error(400, "; ".join(mattermost_post_errors(body)))
        if self.members is not None and body["channel_id"] not in self.members:
            return self._error(403, "You do not have the appropriate permissions.")
        post = self._post(body)
        self.posts[post["id"]] = post
        return JSONResponse(post, status_code=201)

    async def _ephemeral(self, request: Request) -> JSONResponse:
        body, err = await self._enter(request)
        if err:
            return err
        if not self.bot_is_admin:
            return self._error(403, "You do not have the appropriate permissions.")
        post = self._post(body["post"])
        self.ephemerals.append({**post, "user_id": body["user_id"]})
        return JSONResponse(post, status_code=201)

    async def _get_post(self, request: Request) -> JSONResponse:
        _, err = await self._enter(request)
        post = self.posts.get(request.path_params["post_id"])
        return err or (JSONResponse(post) if post else self._error(404, "Unable to find the post."))

    async def _patch_post(self, request: Request) -> JSONResponse:
        body, err = await self._enter(request)
        if err:
            return err
        post = self.posts.get(request.path_params["post_id"])
        if post is None:
            return self._error(404, "Unable to find the post.")
        if mattermost_post_errors(body):
            return self._error(400, "; ".join(mattermost_post_errors(body)))
        for key in ("message", "props"):
            if key in body:
                post[key] = body[key]
        post["edit_at"] = int(time.time() * 1000)
        return JSONResponse(post)

    # -- WebSocket ------------------------------------------------------------------------

    async def _websocket(self, ws: WebSocket) -> None:
        if self.sockets_down:
            await ws.close(code=1013)  # "try again later": a proxy restarting
            return
        await ws.accept()
        await ws.send_json(
            {
                "event": "hello",
                "data": {"server_version": "9.11.0"},
                "broadcast": {"omit_users": None, "user_id": BOT_ID, "channel_id": "", "team_id": ""},
                "seq": 0,
            }
        )
        try:
            challenge = json.loads(await ws.receive_text())
            if (
                challenge.get("action") != "authentication_challenge"
                or (challenge.get("data") or {}).get("token") != BOT_TOKEN
            ):
                await ws.send_json(
                    {
                        "status": "FAIL",
                        "seq_reply": challenge.get("seq"),
                        "error": {"id": "api.web_socket_router.not_authenticated.app_error"},
                    }
                )
                await ws.close()
                return
            await ws.send_json({"status": "OK", "seq_reply": challenge["seq"]})
            self.connections += 1
            self._sockets.append(ws)
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while (self.connections < count or not self._sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert self.connections >= count and self._sockets, "the adapter did not (re)connect"

    async def drop_sockets(self) -> None:
        """Cut every event socket, as a proxy restart or network blip would."""
        for ws in list(self._sockets):
            self._sockets.remove(ws)
            await ws.close(code=1011)

    async def user_posts(
        self,
        text: str,
        *,
        user_id: str,
        channel_id: str = "chanops000000000000000000a",
        channel_type: str = "O",
        channel_name: str = "ops",
        root_id: str = "",
        mentions: list[str] | None = None,
        post_type: str = "",
        props: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user's post, broadcast as a ``posted`` event on every open socket."""
        post = {
            "id": new_id(),
            "create_at": int(time.time() * 1000),
            "update_at": 0,
            "edit_at": 0,
            "delete_at": 0,
            "is_pinned": False,
            "user_id": user_id,
            "channel_id": channel_id,
            "root_id": root_id,
            "original_id": "",
            "message": text,
            "type": post_type,
            "props": props or {},
            "hashtags": "",
            "pending_post_id": "",
        }
        self.posts[post["id"]] = post
        self.channels.setdefault(channel_id, {"id": channel_id, "type": channel_type, "name": channel_name})
        self._seq += 1
        data: dict[str, Any] = {
            "channel_display_name": channel_name.title(),
            "channel_name": channel_name,
            "channel_type": channel_type,
            "post": json.dumps(post),
            "sender_name": "@" + self.users.get(user_id, {}).get("username", "someone"),
            "team_id": TEAM_ID,
            "set_online": True,
        }
        if mentions:
            data["mentions"] = json.dumps(mentions)
        event = {
            "event": "posted",
            "data": data,
            "broadcast": {"omit_users": None, "user_id": "", "channel_id": channel_id, "team_id": ""},
            "seq": self._seq,
        }
        for ws in list(self._sockets):
            await ws.send_json(event)
        return post


def slash_command(
    command: str,
    text: str,
    *,
    user_id: str,
    token: str = COMMAND_TOKEN,
    channel_id: str = "chanops000000000000000000a",
    channel_name: str = "ops",
    trigger_id: str = "",
    root_id: str = "",
    response_url: str = "http://127.0.0.1/hooks/commands/x",
) -> dict[str, str]:
    return {
        "channel_id": channel_id,
        "channel_name": channel_name,
        "command": command,
        "root_id": root_id,
        "response_url": response_url,
        "team_domain": "example",
        "team_id": TEAM_ID,
        "text": text,
        "token": token,
        "trigger_id": trigger_id or new_id(),
        "user_id": user_id,
        "user_name": "alice",
    }


def action_click(
    context: dict[str, Any], *, user_id: str, post_id: str, channel_id: str = "chanops000000000000000000a"
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "user_name": "alice",
        "channel_id": channel_id,
        "channel_name": "ops",
        "team_id": TEAM_ID,
        "team_domain": "example",
        "post_id": post_id,
        "trigger_id": new_id(),
        "type": "",
        "data_source": "",
        "context": context,
    }


def dialog_errors(request: dict[str, Any]) -> list[str]:
    """What Mattermost's ``OpenDialogRequest.IsValid`` refuses in a dialog open request."""
    problems = []
    if not request.get("url"):
        problems.append("empty URL")
    if not request.get("trigger_id"):
        problems.append("empty trigger id")
    dialog = request.get("dialog") or {}
    title = dialog.get("title") or ""
    if not title or len(title) > 24:
        problems.append(f"invalid dialog title {title!r}")
    names: set[str] = set()
    for element in dialog.get("elements") or []:
        name = element.get("name", "")
        if name in names:
            problems.append(f"duplicate dialog element {name!r}")
        names.add(name)
        low, high = element.get("min_length", 0), element.get("max_length", 0)
        if low < 0 or low > high:
            problems.append(f"{name!r}: min_length {low} / max_length {high}")
        for key, limit in (("display_name", 24), ("name", 300), ("help_text", 150)):
            if len(element.get(key) or "") > limit:
                problems.append(f"{name!r}: {key} longer than {limit}")
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            problems.append(f"invalid element type: {kind!r}")
        if kind in ("text", "textarea"):
            limit = 150 if kind == "text" else 3000
            for key in ("default", "placeholder"):
                if len(element.get(key) or "") > limit:
                    problems.append(f"{name!r}: {key} longer than {limit}")
            if element.get("subtype", "") not in TEXT_SUBTYPES:
                problems.append(f"{name!r}: invalid subtype")
    return problems
