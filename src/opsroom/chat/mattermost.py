"""Mattermost adapter: REST API v4 with httpx, events from the WebSocket with ``websockets``,
slash commands and interactive buttons over HTTP.

- A bot account with an access token; ``posted`` events arrive on ``/api/v4/websocket``
  (the post is a JSON string in ``data.post``). The socket reconnects with exponential
  back-off; the bot's own posts and system/bot/webhook posts are ignored.
- Slash commands, button clicks and reason forms come over HTTP (mattermost_inbound.py:
  tokens, signed button contexts, sealed dialog states).
- Posts and edits (``POST /posts`` with ``root_id``, ``PUT /posts/{id}/patch``) are paced
  per channel; a 429 waits ``Retry-After`` and tries again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import re
import time
import urllib.parse
from collections import OrderedDict
from typing import Any

import httpx
from starlette.routing import BaseRoute, Route

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.chat.mattermost_api import MattermostApi, MattermostError
from opsroom.chat.mattermost_events import Bot, CatchUp, message_event, ws_url
from opsroom.chat.mattermost_inbound import MattermostInbound
from opsroom.chat.mattermost_render import render
from opsroom.chat.mattermost_reply import CURRENT, ClickReply, CommandReply, RepliedPosts, Reply
from opsroom.chat.pacing import Outbox
from opsroom.config.chat import MattermostConfig
from opsroom.core import Message, MessageRef, Place, Principal

log = logging.getLogger(__name__)

# Cluster mode: a replica taking the socket over reads the configured channels' posts of the
# last minute (those the old owner answered are dropped by the delivery table).
TAKEOVER_LOOKBACK_S = 60.0
EPHEMERAL_PREFIX = "ephemeral:"
RESPONDED_PREFIX = "responded:"
FORBIDDEN = 403  # Mattermost's answer when the bot lacks a permission or channel membership
_USER_ID = re.compile(r"[a-z0-9]{26}")


class MattermostAdapter(MattermostInbound):
    name = "mattermost"
    capabilities = Capabilities(threads=True, buttons=True, edits=True, ephemeral=True)

    def __init__(self, config: MattermostConfig, *, signing_key: bytes, public_url: str = "") -> None:
        """``signing_key`` signs button contexts (pass the server's secret key so buttons
        survive a restart); ``public_url`` is where Mattermost reaches opsroom."""
        if not signing_key:
            raise ValueError("mattermost: a signing key is needed to sign button contexts")
        self.config = config
        self._key = hashlib.sha256(b"opsroom-mattermost-actions\0" + signing_key).digest()
        self.actions_url = config.actions_url or (public_url.rstrip("/") + "/mattermost/actions")
        self.http = httpx.AsyncClient(
            base_url=config.url.rstrip("/") + "/api/v4",
            headers={"Authorization": f"Bearer {config.bot_token}"},
            verify=config.verify_tls,
            timeout=30.0,
        )
        self.api = MattermostApi(self.http)
        self.outbox = Outbox(config.pace_seconds)
        self.bot_user_id = ""
        self.bot_username = ""
        self.connected = asyncio.Event()
        self.connections = 0  # successful socket authentications (reconnects show here)
        self._handler: InboundHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._replied = RepliedPosts()
        self._catch_up = CatchUp()
        # Cluster mode: every replica opening the socket would get every post; the replica
        # holding the leader lease listens (cluster/singletons.py), the others only post.
        self.hold_inbound = False
        self._taking_over = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, handler: InboundHandler) -> None:
        """Check the token (``GET /users/me``), then keep the event socket open in the
        background."""
        me = await self.api.call("GET", "/users/me")
        self.bot_user_id, self.bot_username = me["id"], me.get("username", "")
        self._handler = handler
        if not self.hold_inbound:
            await self.listen()
        log.info("mattermost adapter started as @%s", self.bot_username)

    async def listen(self) -> None:
        """Open the event socket (at start; in cluster mode when this replica leads)."""
        if self._socket_task is None:
            if self.hold_inbound:  # taking over from another replica: what was posted meanwhile
                self._catch_up.seed(list(self.config.channels), int((time.time() - TAKEOVER_LOOKBACK_S) * 1000))
                self._taking_over = True
            self._socket_task = asyncio.create_task(self._socket_loop(), name="mattermost-socket")

    async def unlisten(self) -> None:
        """Close the event socket (this replica no longer leads); posting still works."""
        task, self._socket_task = self._socket_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.connected.clear()

    async def stop(self) -> None:
        self._handler = None
        tasks = [t for t in (self._socket_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._socket_task = None
        await self.http.aclose()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/mattermost/command", self._command_endpoint, methods=["POST"], name="mattermost_command"),
            Route("/mattermost/actions", self._actions_endpoint, methods=["POST"], name="mattermost_actions"),
            Route("/mattermost/actions/dialog", self._dialog_endpoint, methods=["POST"], name="mattermost_dialog"),
        ]

    # -- the event socket --------------------------------------------------------------

    async def _socket_loop(self) -> None:
        import websockets

        delay = self.config.reconnect_min_seconds
        while True:
            try:
                async with websockets.connect(ws_url(self.config.url), max_size=8 * 1024 * 1024, open_timeout=15) as ws:
                    await ws.send(
                        json.dumps(
                            {
                                "seq": 1,
                                "action": "authentication_challenge",
                                "data": {"token": self.config.bot_token},
                            }
                        )
                    )
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg.get("seq_reply") == 1:
                            if msg.get("status") != "OK":
                                log.error("mattermost: the server refused the bot token on the socket")
                                break
                            self.connections += 1
                            self.connected.set()
                            if self.connections > 1 or self._taking_over:
                                self._taking_over = False
                                self._spawn(self._after_reconnect())
                            delay = self.config.reconnect_min_seconds
                        elif msg.get("event") == "posted":
                            self._on_posted(msg.get("data") or {})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network errors of any kind: reconnect
                log.warning("mattermost: event socket lost (%s); reconnecting in %.1fs", type(exc).__name__, delay)
            self.connected.clear()
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, self.config.reconnect_max_seconds)

    def _on_posted(self, data: dict[str, Any]) -> None:
        self._catch_up.saw(data)
        event = message_event(data, self._bot())
        if event is not None and event.event_id and self._first_time(event.event_id):
            self._spawn(self._emit(event))

    def _bot(self) -> Bot:
        return Bot(self.bot_user_id, self.bot_username, tuple(self.config.channels))

    async def _after_reconnect(self) -> None:
        """Posts typed while the socket was down, handed on like live ones (deduplicated)."""
        missed = await self._catch_up.missed(self.api.call, self._bot())
        if missed:
            log.info("mattermost: caught up on %d posts missed while the socket was down", len(missed))
        for data in missed:
            self._on_posted(data)

    # -- outbound ----------------------------------------------------------------------

    async def _mentions(self, principals: tuple[Principal, ...]) -> list[str]:
        out = []
        for p in principals:
            ident = p.identities.get("mattermost", "")
            if ident and _USER_ID.fullmatch(ident):
                ident = (await self.api.user(ident)).get("username", "")
            out.append("@" + (ident or p.name))
        return out

    async def _payload(self, channel: str, message: Message) -> dict[str, Any]:
        return render(message, await self._mentions(message.mentions), self._integration(channel))

    def _reply_for(self, place: Place) -> Reply | None:
        reply = CURRENT.get()
        return reply if reply is not None and reply.channel == place.channel else None

    async def send(self, place: Place, message: Message) -> MessageRef:
        if place.thread and place.thread.startswith((RESPONDED_PREFIX, EPHEMERAL_PREFIX)):
            # a message that went out through a response_url or to one person has no thread
            place = place.in_thread(None)
        reply = self._reply_for(place)
        private_to = message.ephemeral_to
        if reply is not None and message.extra.get("audience") == "asker":
            private_to = reply.user  # help, errors, denials: only the person who asked sees them
        if private_to:
            return await self._send_private(place, message, private_to, reply)
        payload = await self._payload(place.channel, message)
        post: dict[str, Any] = {"channel_id": place.channel, **payload}
        if place.thread:
            post["root_id"] = place.thread
        try:
            made = await self.outbox.post(place.channel, lambda: self.api.call("POST", "/posts", post))
        except MattermostError as exc:
            if not isinstance(reply, CommandReply) or not reply.usable():
                reply = self._replied.latest_for(place.channel)
            if exc.status != FORBIDDEN or reply is None:
                raise
            # Not a member (a private channel, a DM between people): the command's
            # response_url still posts there, in the thread it was typed in.
            payload["message"] += (
                f"\n\n_@{self.bot_username} is not a member here, so only the start and the outcome "
                "show. Add it to the channel for live progress._"
            )
            await reply.send(payload, "in_channel")
            return MessageRef(place, RESPONDED_PREFIX + self._replied.remember(reply))
        return MessageRef(place, str(made["id"]))

    async def _send_private(self, place: Place, message: Message, user: str, reply: Reply | None) -> MessageRef:
        """Only ``user`` sees it: as the click's ephemeral_text, through their command's
        response_url, or as an ephemeral post (which needs a system-admin bot). A refusal
        that cannot be shown is logged, never turned into a public error."""
        ref = MessageRef(place, f"{EPHEMERAL_PREFIX}{user}:")
        if isinstance(reply, ClickReply) and reply.open and reply.user == user:
            reply.texts.append(message.as_text())
            return ref
        payload = await self._payload(place.channel, message)
        if isinstance(reply, CommandReply) and reply.user == user and reply.usable():
            try:
                await reply.send(payload, "ephemeral")
                return ref
            except httpx.HTTPError as exc:
                log.warning("mattermost: response_url answer failed (%s); trying an ephemeral post", exc)
        post: dict[str, Any] = {"channel_id": place.channel, **payload}
        if place.thread:
            post["root_id"] = place.thread
        try:
            made = await self.outbox.post(
                place.channel, lambda: self.api.call("POST", "/posts/ephemeral", {"user_id": user, "post": post})
            )
        except MattermostError as exc:
            if exc.status != FORBIDDEN:
                raise
            log.warning(
                "mattermost: cannot show %s a private answer (the bot may not post ephemeral messages): %s",
                user,
                message.text,
            )
            return ref
        return MessageRef(place, f"{EPHEMERAL_PREFIX}{user}:{made.get('id', '')}")

    async def update(self, ref: MessageRef, message: Message) -> None:
        if ref.message_id.startswith(EPHEMERAL_PREFIX):
            user = ref.message_id[len(EPHEMERAL_PREFIX) :].split(":", 1)[0]
            await self.send(ref.place, dataclasses.replace(message, ephemeral_to=user))
            return
        if ref.message_id.startswith(RESPONDED_PREFIX):
            # Posted through a response_url (five uses): skip live progress, tell the rest.
            reply = self._replied.get(ref.message_id[len(RESPONDED_PREFIX) :])
            if message.tone == "running" and not message.extra.get("final"):
                return
            if reply is None or not reply.usable():
                log.warning("mattermost: cannot tell %s the news: its response_url expired", ref.place.channel)
                return
            await reply.send(await self._payload(ref.place.channel, message), "in_channel")
            return

        async def patch(latest: Message) -> None:
            await self.api.call(
                "PUT",
                f"/posts/{urllib.parse.quote(ref.message_id, safe='')}/patch",
                await self._payload(ref.place.channel, latest),
            )

        await self.outbox.edit(ref.place.channel, ref.message_id, message, patch)


def build_mattermost_adapter(loaded: Any, *, signing_key: bytes) -> MattermostAdapter | None:
    """Adapter factory (``loaded`` is a LoadedConfig); ``signing_key`` should be the server's
    secret key (``opsroom.app.secret_key``) so buttons keep working across restarts."""
    config = loaded.config.chat.mattermost
    if config is None or not config.enabled:
        return None
    return MattermostAdapter(config, signing_key=signing_key, public_url=loaded.config.server.public_url)
