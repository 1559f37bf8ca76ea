"""A local stand-in for the Slack Web API and the Socket Mode socket, recording every call.

Shapes follow Slack's published docs:
- Web API methods and answers: https://api.slack.com/methods/chat.postMessage,
  https://api.slack.com/methods/chat.update, https://api.slack.com/methods/chat.postEphemeral,
  https://api.slack.com/methods/users.info, https://api.slack.com/methods/conversations.info,
  https://api.slack.com/methods/auth.test, https://api.slack.com/methods/apps.connections.open
- Rate limits (HTTP 429, ``Retry-After`` seconds, ``{"ok": false, "error": "ratelimited"}``):
  https://api.slack.com/apis/rate-limits; ``chat.postMessage`` "generally allows posting one
  message per second per channel, while also allowing short bursts": with ``per_channel_pacing``
  on, a post to a channel less than a second after the previous one, beyond ``burst`` posts,
  gets a 429 (the burst size is not published; tests choose it)
- Membership: ``chat.postMessage`` / ``chat.postEphemeral`` into a conversation the bot is not in
  fail with ``channel_not_found`` (private channels and DMs: the bot cannot even see them) or
  ``not_in_channel`` (public channels, which ``conversations.join`` fixes; private ones it does
  not): https://api.slack.com/methods/chat.postMessage#errors,
  https://api.slack.com/methods/conversations.join#errors
- Ephemerals with ``thread_ts`` show only when that thread already exists ("ephemeral messages
  in threads are only visible if the thread already exists"); Slack still answers ``ok``:
  https://api.slack.com/methods/chat.postEphemeral
- ``response_url``: JSON ``{text, blocks, response_type: ephemeral|in_channel, replace_original}``,
  at most 5 posts within 30 minutes, no membership needed:
  https://api.slack.com/interactivity/handling#message_responses
- Workspaces: a bot token belongs to one workspace (team); with it, another workspace's
  channels are ``channel_not_found`` and its users ``user_not_found``; a revoked token is
  ``token_revoked``: https://api.slack.com/methods/chat.postMessage#errors
- OAuth v2 (``oauth.v2.access``): ``client_id``/``client_secret`` checked
  (``invalid_client_id``, ``bad_client_secret``), a ``code`` works once and expires
  (``invalid_code``), the answer's shape (``access_token``, ``bot_user_id``, ``team``,
  ``authed_user``…) and ``grant_type=refresh_token`` for token rotation:
  https://api.slack.com/methods/oauth.v2.access, https://api.slack.com/authentication/rotation
- ``conversations.history``: newest first, ``oldest`` exclusive, ``limit``, ``has_more`` and
  ``response_metadata.next_cursor``; the bot must be a member (``not_in_channel``,
  ``channel_not_found``): https://api.slack.com/methods/conversations.history
- ``views.open``: a ``trigger_id`` works once, within 3 seconds (``expired_trigger_id``,
  ``invalid_trigger_id``); modal limits (title ≤ 24, submit/close ≤ 24, ≤ 100 blocks,
  ``private_metadata`` ≤ 3000, ``callback_id`` ≤ 255, input label ≤ 2000, placeholder ≤ 150):
  https://api.slack.com/methods/views.open, https://api.slack.com/reference/surfaces/views
- Socket Mode (``hello``, envelopes with ``envelope_id``/``type``/``payload``/``retry_attempt``,
  acks with ``envelope_id``): https://api.slack.com/apis/socket-mode
- Inbound payloads (slash command form, ``event_callback`` with ``app_mention``/``message``,
  ``block_actions``): https://api.slack.com/interactivity/slash-commands,
  https://api.slack.com/events/app_mention, https://api.slack.com/events/message.im,
  https://api.slack.com/reference/interaction-payloads/block-actions
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from tests.fakes.platform_limits import block_kit_errors

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "UBOT0001"
TEAM = "T0000TEAM"
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "b2c4e6f8a0b2c4e6f8a0b2c4e6f8a0b2"
TRIGGER_SECONDS = 3.0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # id -> name
    # Conversations the bot is a member of (None: every known public channel, as before).
    members: set[str] | None = None
    private: set[str] = field(default_factory=set)  # private channels and DMs among people
    responses: list[dict[str, Any]] = field(default_factory=list)  # what response_urls posted
    response_urls: dict[str, int] = field(default_factory=dict)  # url id -> uses left
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    rate_limits: dict[str, list[int]] = field(default_factory=dict)  # method -> Retry-After per 429
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    per_channel_pacing: bool = False
    burst: int = 1
    limited: list[str] = field(default_factory=list)  # channels that got a 429 from pacing
    _recent_posts: dict[str, list[float]] = field(default_factory=dict)
    url_users: dict[str, str] = field(default_factory=dict)  # response_url id -> whose it is
    threads: set[tuple[str, str]] = field(default_factory=set)  # threads people started
    base_url: str = ""
    _ts: int = 0
    _outgoing: asyncio.Queue[dict[str, Any]] | None = None
    socket_connected: asyncio.Event | None = None
    # workspaces: bot token -> team; channel / user -> team (absent: TEAM, the first workspace)
    tokens: dict[str, str] = field(default_factory=lambda: {BOT_TOKEN: TEAM})
    channel_teams: dict[str, str] = field(default_factory=dict)
    user_teams: dict[str, str] = field(default_factory=dict)
    team_names: dict[str, str] = field(default_factory=dict)
    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # code -> (team, installer, at)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> team
    rotate_tokens: bool = False  # installs get expiring tokens with a refresh token
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages, oldest first
    triggers: dict[str, float] = field(default_factory=dict)  # trigger_id -> issued at (monotonic)
    views: list[dict[str, Any]] = field(default_factory=list)  # modals opened
    revoked: set[str] = field(default_factory=set)
    socket_sessions: int = 0
    _ws: WebSocket | None = None
    _minted: int = 0

    def app(self) -> Starlette:
        self._outgoing = asyncio.Queue()
        self.socket_connected = asyncio.Event()
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/respond/{key}", self._respond, methods=["POST"]),
                WebSocketRoute("/socket", self._socket),
            ]
        )

    def response_url(self, key: str, user: str = "U0ALICE") -> str:
        """A fresh response_url for ``user``, as Slack puts in a slash command or a click."""
        self.response_urls[key] = 5
        self.url_users[key] = user
        return f"{self.base_url}/respond/{key}"

    # -- workspaces and OAuth -------------------------------------------------------------

    def workspace(self, team: str, name: str, channels: dict[str, str], users: dict[str, dict[str, Any]]) -> None:
        """Another workspace with its own channels and people (no token until it installs)."""
        self.team_names[team] = name
        for channel, channel_name in channels.items():
            self.channels[channel] = channel_name
            self.channel_teams[channel] = team
        for user, info in users.items():
            self.users[user] = info
            self.user_teams[user] = team

    def authorize(self, team: str, installer: str = "U0ALICE") -> str:
        """What Slack does when an admin of ``team`` clicks Allow: a one-time code for the redirect."""
        self._minted += 1
        code = f"code-{team}-{self._minted}"
        self.codes[code] = (team, installer, time.monotonic())
        return code

    def revoke(self, team: str) -> None:
        """The app was uninstalled from ``team``: its tokens stop working."""
        for token in [t for t, owner in self.tokens.items() if owner == team]:
            del self.tokens[token]
            self.revoked.add(token)

    def bot_of(self, team: str) -> str:
        return BOT_USER if team == TEAM else f"UBOT{team}"

    def team_of_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    def _m_oauth_v2_access(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("client_id") != CLIENT_ID:
            return {"ok": False, "error": "invalid_client_id"}
        if p.get("client_secret") != CLIENT_SECRET:
            return {"ok": False, "error": "bad_client_secret"}
        if p.get("grant_type") == "refresh_token":
            team = self.refresh_tokens.pop(p.get("refresh_token", ""), None)
            if team is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            return {"ok": True, **self._mint(team)}
        found = self.codes.pop(p.get("code", ""), None)  # single use
        if found is None or time.monotonic() - found[2] > 600:
            return {"ok": False, "error": "invalid_code"}
        team, installer, _ = found
        return {
            "ok": True,
            "app_id": "A0000APP",
            "authed_user": {"id": installer},
            "scope": "commands,chat:write,app_mentions:read,channels:history,users:read",
            "bot_user_id": self.bot_of(team),
            "team": {"id": team, "name": self.team_names.get(team, team)},
            "enterprise": None,
            "is_enterprise_install": False,
            **self._mint(team),
        }

    def _mint(self, team: str) -> dict[str, Any]:
        self._minted += 1
        token = f"xoxb-{team}-{self._minted:04d}-minted"
        self.tokens[token] = team
        out: dict[str, Any] = {"access_token": token, "token_type": "bot"}
        if self.rotate_tokens:
            refresh = f"xoxe-1-{team}-{self._minted:04d}"
            self.refresh_tokens[refresh] = team
            out |= {"refresh_token": refresh, "expires_in": 43200}
        return out

    def seen_by(self, user: str) -> list[str]:
        """Texts of every ephemeral ``user`` could actually see (response_url or
        chat.postEphemeral outside a thread that does not exist)."""
        shown = [r for r in self.responses if r.get("response_type") == "ephemeral" and r["user"] == user]
        shown += [e for e in self.ephemerals if e["user"] == user and e["visible"]]
        return [m.get("text", "") + "\n" + json.dumps(m.get("blocks") or []) for m in shown]

    def _too_fast(self, channel: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._recent_posts.get(channel, []) if now - t < 1.0]
        if len(recent) >= self.burst:
            self._recent_posts[channel] = recent
            return True
        self._recent_posts[channel] = [*recent, now]
        return False

    def _is_member(self, channel: str) -> bool:
        if channel.startswith("D") and channel not in self.private:
            return True  # the bot's own DM with someone
        if self.members is None:
            return channel not in self.private
        return channel in self.members

    def _thread_exists(self, channel: str, ts: str) -> bool:
        if (channel, ts) in self.threads:
            return True
        return any(c == channel and m.get("thread_ts") == ts and m["ts"] != ts for (c, _), m in self.messages.items())

    async def _respond(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = json.loads(await request.body())
        left = self.response_urls.get(key, 0)
        if left <= 0:
            return PlainTextResponse("used_url", status_code=404)
        errors = block_kit_errors(body.get("text", ""), body.get("blocks"))
        if errors:
            return PlainTextResponse("invalid_blocks", status_code=400)
        self.response_urls[key] = left - 1
        body["key"] = key
        body["user"] = self.url_users.get(key, "")
        body.setdefault("response_type", "ephemeral")  # Slack's default for response_url
        self.responses.append(body)
        return PlainTextResponse("ok")

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def rate_limit(self, method: str, *retry_after: int) -> None:
        """The next len(retry_after) calls of ``method`` answer 429 with these Retry-After values."""
        self.rate_limits.setdefault(method, []).extend(retry_after)

    def _next_ts(self) -> str:
        self._ts += 1
        return f"1700000000.{self._ts:06d}"

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if not body:
            return params
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(json.loads(body))
        else:
            params.update(dict(urllib.parse.parse_qsl(body.decode())))
        for key in ("blocks", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params = await self._params(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append(Call(method, params, time.monotonic()))
        if self.rate_limits.get(method):
            retry_after = self.rate_limits[method].pop(0)
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        if method == "chat.postMessage" and self.per_channel_pacing and self._too_fast(params.get("channel", "")):
            self.limited.append(params.get("channel", ""))
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"})
        if method == "oauth.v2.access":  # client credentials: HTTP Basic auth, or in the body
            auth = request.headers.get("authorization", "")
            if auth.startswith("Basic "):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                params |= {"client_id": client_id, "client_secret": secret}
            return JSONResponse(self._m_oauth_v2_access(params))
        if method == "apps.connections.open":
            if token != APP_TOKEN:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse(self._m_apps_connections_open(params))
        team = self.tokens.get(token)
        if team is None:
            return JSONResponse({"ok": False, "error": "token_revoked" if token in self.revoked else "invalid_auth"})
        if not self._same_team(team, params):
            which = "user_not_found" if method == "users.info" else "channel_not_found"
            return JSONResponse({"ok": False, "error": which})
        params["_team"] = team
        params["_token"] = token
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            errors = block_kit_errors(params.get("text", ""), params.get("blocks"))
            if errors:
                return JSONResponse({"ok": False, "error": "invalid_blocks", "errors": errors})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        return JSONResponse(handler(params))

    def _same_team(self, team: str, p: dict[str, Any]) -> bool:
        """A token reaches only its own workspace's channels and people."""
        channel = str(p.get("channel", ""))
        if channel.startswith("U"):
            channel = ""
        user = str(p.get("user", ""))
        if channel and self.channel_teams.get(channel, TEAM) != team:
            return False
        return not (user and self.user_teams.get(user, TEAM) != team)

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        team = p.get("_team", TEAM)
        return {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": self.team_names.get(team, "Example"),
            "user": "opsroom",
            "team_id": team,
            "user_id": self.bot_of(team),
            "bot_id": "B0000BOT",
            "is_enterprise_install": False,
        }

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(p.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _m_conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        name = self.channels.get(p.get("channel", ""))
        if name is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": p["channel"], "name": name, "is_channel": True}}

    def _m_conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if channel in self.private or channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if self.members is not None:
            self.members.add(channel)
        return {
            "ok": True,
            "channel": {"id": p.get("channel"), "name": self.channels.get(p.get("channel", ""))},
        }

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("U"):
            channel = "D" + channel[1:]  # posting to a user id opens the DM
        if not self._is_member(channel):
            public = channel in self.channels and channel not in self.private
            return {"ok": False, "error": "not_in_channel" if public else "channel_not_found"}
        ts = self._next_ts()
        message = {
            "type": "message",
            "user": BOT_USER,
            "text": p.get("text", ""),
            "ts": ts,
            "blocks": p.get("blocks", []),
            "thread_ts": p.get("thread_ts"),
        }
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p.get("channel", ""), p.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key].update(text=p.get("text", ""), blocks=p.get("blocks", []))
        return {"ok": True, "channel": key[0], "ts": key[1], "text": p.get("text", "")}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if not self._is_member(channel):
            public = channel in self.channels and channel not in self.private
            return {"ok": False, "error": "not_in_channel" if public else "channel_not_found"}
        thread = p.get("thread_ts")
        p["visible"] = not thread or self._thread_exists(channel, thread)
        self.ephemerals.append(p)
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_auth_revoke(self, p: dict[str, Any]) -> dict[str, Any]:
        """https://api.slack.com/methods/auth.revoke: the calling token stops working."""
        for token in [t for t, team in self.tokens.items() if team == p["_team"] and t == p["_token"]]:
            del self.tokens[token]
            self.revoked.add(token)
        return {"ok": True, "revoked": True}

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if not self._is_member(channel):
            public = channel in self.channels and channel not in self.private
            return {"ok": False, "error": "not_in_channel" if public else "channel_not_found"}
        oldest = float(p.get("oldest") or 0)
        limit = min(int(p.get("limit") or 100), 999)
        newer = [m for m in self.history.get(channel, []) if float(m["ts"]) > oldest]
        newer.sort(key=lambda m: float(m["ts"]), reverse=True)  # newest first
        cursor = int(p.get("cursor") or 0)
        page = newer[cursor : cursor + limit]
        more = cursor + limit < len(newer)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(cursor + limit) if more else ""},
        }

    def typed(self, channel: str, text: str, ts: str, *, user: str = "U0ALICE", **extra: Any) -> dict[str, Any]:
        """A message someone wrote in ``channel``: kept in its history; returns its ``message`` event."""
        stored = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        self.history.setdefault(channel, []).append(stored)
        return {**stored, "channel": channel, "event_ts": ts, "channel_type": "channel"}

    def trigger(self, trigger_id: str) -> str:
        """A trigger_id as Slack puts in a click: usable once, for three seconds."""
        self.triggers[trigger_id] = time.monotonic()
        return trigger_id

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        issued = self.triggers.pop(p.get("trigger_id", ""), None)
        if issued is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if time.monotonic() - issued > TRIGGER_SECONDS:
            return {"ok": False, "error": "expired_trigger_id"}
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        errors = modal_errors(view)
        if errors:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": errors}}
        view = {**view, "id": f"V{len(self.views) + 1:08d}"}
        self.views.append(view)
        return {"ok": True, "view": view}

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.base_url.replace("http://", "ws://") + "/socket"}

    # -- Socket Mode ---------------------------------------------------------------------

    async def push(
        self, envelope_type: str, payload: dict[str, Any], *, envelope_id: str, retry_attempt: int = 0
    ) -> None:
        """Send one envelope down the Socket Mode socket."""
        assert self._outgoing is not None
        await self._outgoing.put(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": envelope_type != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )

    async def drop(self) -> None:
        """The socket goes away (Slack closes it, or the network does); the client reconnects."""
        assert self.socket_connected is not None and self._ws is not None
        self.socket_connected.clear()
        await self._ws.close()

    async def _socket(self, ws: WebSocket) -> None:
        await ws.accept()
        self._ws = ws
        self.socket_sessions += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0000APP"},
            }
        )
        assert self._outgoing is not None and self.socket_connected is not None
        self.socket_connected.set()

        async def reader() -> None:
            while True:
                self.socket_acks.append(json.loads(await ws.receive_text()))

        read = asyncio.create_task(reader())
        get: asyncio.Task[dict[str, Any]] | None = None
        try:
            while True:
                get = asyncio.create_task(self._outgoing.get())
                await asyncio.wait({get, read}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    break  # the socket closed: what is queued goes to the next session
                await ws.send_json(get.result())
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            read.cancel()
            if get is not None and not get.done():
                get.cancel()


def modal_errors(view: Any) -> list[str]:
    """What Slack's views.open would refuse in a modal (https://api.slack.com/reference/surfaces/views,
    https://api.slack.com/reference/block-kit/blocks#input)."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["[ERROR] view must be a modal"]
    errors = []
    for key in ("title", "submit", "close"):
        text = (view.get(key) or {}).get("text", "")
        if key == "title" and not text:
            errors.append("[ERROR] title is required")
        if len(text) > 24:
            errors.append(f"[ERROR] {key} must be 24 characters or fewer")
    blocks = view.get("blocks") or []
    if len(blocks) > 100:
        errors.append("[ERROR] no more than 100 blocks")
    if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
        errors.append("[ERROR] a modal with input blocks needs submit")
    if len(view.get("private_metadata", "")) > 3000:
        errors.append("[ERROR] private_metadata must be 3000 characters or fewer")
    if len(view.get("callback_id", "")) > 255:
        errors.append("[ERROR] callback_id must be 255 characters or fewer")
    for b in blocks:
        if b.get("type") != "input":
            continue
        label = (b.get("label") or {}).get("text", "")
        if not label or len(label) > 2000:
            errors.append("[ERROR] input label must be 1 to 2000 characters")
        element = b.get("element") or {}
        if len((element.get("placeholder") or {}).get("text", "")) > 150:
            errors.append("[ERROR] placeholder must be 150 characters or fewer")
        if element.get("max_length", 3000) > 3000:
            errors.append("[ERROR] max_length must be 3000 or fewer")
    return errors


# -- inbound payloads, as Slack sends them ----------------------------------------------


def slash_command(
    command: str,
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    channel_name: str = "ops",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
    response_url: str = "https://hooks.slack.com/commands/1234/5678",
    team: str = TEAM,
) -> dict[str, str]:
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": team,
        "team_domain": "example",
        "enterprise_id": "",
        "enterprise_name": "",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": "alice",
        "command": command,
        "text": text,
        "api_app_id": "A0000APP",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def event_callback(
    event: dict[str, Any], *, event_id: str = "Ev0PV52K21", team: str = TEAM, bot: str = BOT_USER
) -> dict[str, Any]:
    return {
        "token": "XXYYZZ",
        "team_id": team,
        "api_app_id": "A0000APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": bot,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0",
    }


def app_mention(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    ts: str = "1515449522.000016",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": "c0ffee00-0000-0000-0000-000000000001",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    channel_type: str = "channel",
    ts: str = "1355517523.000005",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
        **extra,
    }


def block_actions(
    value: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0OPS",
    message_ts: str = "1548261231.000200",
    action_id: str = "opsroom_0",
    trigger_id: str = "12466734323.1395872398",
    ephemeral: bool = False,
    response_url: str = "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
    thread_ts: str | None = None,
    team: str = TEAM,
    label: str = "Approve",
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": "A0000APP",
        "token": "9s8d9as89d8as9d8as989",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": trigger_id,
        "channel": {"id": channel, "name": "ops"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": label},
                "value": value,
                "style": "primary",
                "type": "button",
                "action_ts": "1548426417.840180",
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "user": BOT_USER, "ts": message_ts, "text": "approval"}
        if thread_ts:
            payload["message"]["thread_ts"] = thread_ts
            payload["container"]["thread_ts"] = thread_ts
    return payload


def view_submission(view: dict[str, Any], typed: str, *, user: str = "U0ALICE", team: str = TEAM) -> dict[str, Any]:
    """A modal submitted with ``typed`` in each of its text inputs
    (https://api.slack.com/reference/interaction-payloads/views#view_submission)."""
    values = {
        b["block_id"]: {b["element"]["action_id"]: {"type": "plain_text_input", "value": typed}}
        for b in view.get("blocks", [])
        if b.get("type") == "input"
    }
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "carol", "name": "carol", "team_id": team},
        "api_app_id": "A0000APP",
        "token": "9s8d9as89d8as9d8as989",
        "trigger_id": "12345.98765.abcd2358fdea",
        "view": {
            **view,
            "team_id": team,
            "app_id": "A0000APP",
            "state": {"values": values},
            "hash": "156772938.1827394",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
