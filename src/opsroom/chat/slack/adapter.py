"""Slack adapter: slash commands, mentions, DMs, channel messages and Block Kit buttons, over
the HTTP Events API or Socket Mode, through Slack Bolt's async app; one workspace (a bot
token) or every workspace that installed the app (OAuth v2, ``client_id``).

Inbound (``inbound``): every HTTP request is verified before anything parses it (HMAC over
``v0:timestamp:body`` with a numeric timestamp in the five-minute window, else 401; the same
signature twice is a replay, 409; then a body Slack could have sent, else 400 — see
``slack_gate``), acknowledged at once, and turned into a ``MessageEvent``/``ActionEvent``
that the engine's handler gets in a background task, so Slack's three-second deadline is
always met however long the work takes.

Outbound (here): one ``AsyncWebClient`` per workspace (``workspaces``) that retries 429
answers after ``Retry-After``, and a per-channel pacer so a burst is spread out instead of
rate-limited or lost.

Only this package imports slack_bolt/slack_sdk; it is imported only when ``chat.slack`` is
configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.chat.dedup import SeenSet
from opsroom.chat.pacing import Outbox
from opsroom.chat.slack.catchup import CatchUp
from opsroom.chat.slack.inbound import SlackInbound, team_of
from opsroom.chat.slack.install import DbInstallationStore, DbStateStore
from opsroom.chat.slack.modal import CALLBACK_ID
from opsroom.chat.slack.workspaces import Workspaces
from opsroom.chat.slack_gate import RequestGate
from opsroom.chat.slack_render import BUTTON_ACTION_PREFIX, render
from opsroom.chat.slack_respond import CURRENT, KnownThreads, RespondedMessages, Responder
from opsroom.config.chat import SlackConfig
from opsroom.core import Context, Message, MessageRef, Place, Section

log = logging.getLogger("opsroom.chat.slack")

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are a few KB; anything huge is not Slack
SEEN_DELIVERIES = 10_000
EPHEMERAL_PREFIX = "ephemeral:"
RESPONDED_PREFIX = "responded:"
# chat.postMessage errors that mean "the bot is not in this conversation": a private channel
# or a DM it was never added to (channel_not_found), a public channel it has not joined.
_NOT_A_MEMBER = {"channel_not_found", "not_in_channel"}


class SlackAdapter(SlackInbound):
    name = "slack"
    capabilities = Capabilities(threads=True, buttons=True, edits=True, ephemeral=True)

    def __init__(self, config: SlackConfig, *, public_url: str = "") -> None:
        """``public_url`` (``server.public_url``) names the OAuth redirect URL exactly, as Slack
        requires when the app lists more than one."""
        self.config = config
        self._base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
        self.workspaces = Workspaces(config, self._client_for)
        self.client = self._client_for(config.bot_token)  # no token with client_id: per workspace
        self.installations: DbInstallationStore | None = None
        signing_secret = config.signing_secret or "socket-mode-does-not-sign"
        if self.workspaces.multi:
            self.installations = DbInstallationStore(
                allowed=config.workspaces, on_change=self.workspaces.forget, revoke=self._revoke
            )
            self.states = DbStateStore()
            self.workspaces.store = self.installations
            self.app = AsyncApp(
                client=self.client,
                signing_secret=signing_secret,
                oauth_settings=AsyncOAuthSettings(
                    client_id=config.client_id,
                    client_secret=config.client_secret,
                    scopes=config.scopes,
                    user_scopes=[],
                    install_path=config.install_path,
                    redirect_uri_path=config.redirect_path,
                    redirect_uri=public_url.rstrip("/") + config.redirect_path if public_url else None,
                    installation_store=self.installations,
                    installation_store_bot_only=True,
                    state_store=self.states,
                ),
                request_verification_enabled=True,
                logger=log,
            )
            self.app.event("app_uninstalled")(self._on_uninstalled)
            self.app.event("tokens_revoked")(self._on_uninstalled)
        else:
            self.workspaces.single(self.client, "")
            # Socket Mode requests are never signature-checked by Bolt (they arrive over an
            # authenticated socket); HTTP requests always are.
            self.app = AsyncApp(
                client=self.client, signing_secret=signing_secret, request_verification_enabled=True, logger=log
            )
        self.app.use(self._drop_known_retries)
        self.app.command(re.compile(r"^/.+"))(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.action(re.compile("^" + re.escape(BUTTON_ACTION_PREFIX)))(self._on_action)
        self.app.view(CALLBACK_ID)(self._on_view)
        self.outbox = Outbox(config.pace_seconds)
        self.bot_user_id = ""
        self.bot_name = "opsroom"
        self._handler: InboundHandler | None = None
        self._socket: Any = None
        self._seen = SeenSet(SEEN_DELIVERIES)
        self._gate = RequestGate(signing_secret)
        self._tasks: set[asyncio.Task[None]] = set()
        self._responded = RespondedMessages()
        self._threads = KnownThreads()
        self._catch_up = CatchUp(config.catch_up_messages)
        self.connections = 0  # Socket Mode sessions opened (a reconnect shows here)

    def _client_for(self, token: str) -> AsyncWebClient:
        client = AsyncWebClient(token=token or None, base_url=self._base_url)
        client.retry_handlers.append(
            AsyncRateLimitErrorRetryHandler(max_retry_count=self.config.max_rate_limit_retries)
        )
        return client

    async def _revoke(self, token: str) -> None:
        await self._client_for(token).auth_revoke()

    def bind_store(self, db: Any, audit: Any, secret_key: bytes) -> None:
        """Multi-workspace: where installations live (called by the Slack plugin's start)."""
        if self.installations is not None:
            self.installations.bind(db, audit, secret_key)
            self.states.db = db

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, handler: InboundHandler) -> None:
        """One workspace: check the bot token (auth.test) and learn the bot's user id. Then
        connect the socket (Socket Mode) or start accepting HTTP requests on ``routes()``."""
        if not self.workspaces.multi:
            auth = await self.client.auth_test()
            self.bot_user_id = str(auth.get("user_id") or "")
            self.bot_name = str(auth.get("user") or "opsroom")
            self.workspaces.single(self.client, self.bot_user_id)
        elif self.installations is None or self.installations.db is None:
            raise RuntimeError("slack: client_id is set but no database was bound for the installations")
        self._handler = handler
        if self.config.mode == "socket":
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.config.app_token)
            self._socket.client.message_listeners.append(self._on_socket_message)
            await self._socket.connect_async()
        log.info("slack adapter started (%s mode) as %s", self.config.mode, self.bot_user_id or "an installed app")

    async def stop(self) -> None:
        self._handler = None
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def routes(self) -> list[BaseRoute]:
        """Starlette routes: in HTTP mode the Events API, slash command and interactivity
        URLs; with ``client_id`` also the install page and the OAuth redirect (any mode: the
        installer's browser comes to opsroom, not Slack)."""
        bolt_http = AsyncSlackRequestHandler(self.app)
        routes: list[BaseRoute] = []
        if self.workspaces.multi:

            async def oauth(request: Request) -> Response:
                if self.installations is None or self.installations.db is None:
                    return PlainTextResponse("opsroom is not ready yet", status_code=503)
                return await bolt_http.handle(request)

            routes += [
                Route(self.config.install_path, oauth, methods=["GET"], name="slack_install"),
                Route(self.config.redirect_path, oauth, methods=["GET"], name="slack_oauth_redirect"),
            ]
        if self.config.mode != "http":
            return routes

        async def endpoint(request: Request) -> Response:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                return PlainTextResponse("request too large", status_code=413)
            if self._handler is None:
                return PlainTextResponse("opsroom is not ready yet", status_code=503)
            body = await request.body()  # capped by the app's BodyLimit (opsroom.web.intake)
            if len(body) > MAX_BODY_BYTES:
                return PlainTextResponse("request too large", status_code=413)
            refusal = self._gate.refusal(request, body)
            if refusal is not None:
                return refusal
            return await bolt_http.handle(request)

        return routes + [
            Route(path, endpoint, methods=["POST"], name=f"slack_{path.rsplit('/', 1)[1]}")
            for path in ("/slack/events", "/slack/commands", "/slack/interactions")
        ]

    async def _on_socket_message(self, client: Any, message: dict[str, Any], raw: str | None = None) -> None:
        """Slack greets every new socket with ``hello``; after the first, we were away."""
        if message.get("type") == "hello":
            self.connections += 1
            if self.connections > 1:
                self._spawn(self._after_reconnect())

    async def _after_reconnect(self) -> None:
        """Messages typed while the socket was down, handed on like live ones (deduplicated)."""
        missed = await self._catch_up.missed(self.workspaces)
        if missed:
            log.info("slack: caught up on %d messages missed while the socket was down", len(missed))
        for team, event in missed:
            bot = (await self.workspaces.get(team)).bot_user_id or self.bot_user_id
            self.note_message(team, event, None, bot)

    def _saw(self, team: str, event: dict[str, Any]) -> None:
        self._catch_up.saw(team, event)

    async def _on_uninstalled(self, body: dict[str, Any], event: dict[str, Any], context: Any = None) -> None:
        """``app_uninstalled`` (the app was removed) or ``tokens_revoked`` (its bot token):
        the workspace's install is deleted and audited; it can install again later."""
        team = team_of(body, context)
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens: opsroom keeps none
        if self.installations is not None and team:
            await self.installations.remove(team, reason=str(event.get("type", "uninstalled")))

    # -- outbound ----------------------------------------------------------------------

    def _responder(self, place: Place) -> Responder | None:
        """The response_url of the command or click being answered, if it belongs here."""
        responder = CURRENT.get()
        if responder is not None and responder.channel == place.channel and responder.usable():
            return responder
        return None

    async def send(self, place: Place, message: Message) -> MessageRef:
        if place.thread and place.thread.startswith((RESPONDED_PREFIX, EPHEMERAL_PREFIX)):
            # a message that went out through a response_url or to one person has no thread
            place = place.in_thread(None)
        payload = render(message)
        team, channel_id = self.workspaces.split(place.channel)
        client = (await self.workspaces.get(team)).client
        responder = self._responder(place)
        private_to = message.ephemeral_to
        if responder is not None and message.extra.get("audience") == "asker":
            private_to = responder.user  # help, errors, denials: only the person who typed sees them
        if private_to:
            return await self._send_ephemeral(place, payload, private_to, responder, client)
        broadcast = bool(place.thread) and message.extra.get("broadcast", "").lower() in ("1", "true", "yes")

        async def post() -> Any:
            return await client.chat_postMessage(
                channel=channel_id,
                thread_ts=place.thread,
                reply_broadcast=broadcast or None,
                unfurl_links=False,
                unfurl_media=False,
                **payload,
            )

        try:
            resp = await self._post_joining(place, post, client)
        except SlackApiError as exc:
            responder = responder or self._responded.latest_for(place.channel)
            if responder is None or exc.response.get("error") not in _NOT_A_MEMBER:
                raise
            # Not a member (a private channel, a DM between people): the command's own
            # response_url still reaches everyone there.
            hint = Context(
                "opsroom is not a member of this conversation, so only the start and the outcome "
                f"show here. `/invite @{self.bot_name}` for live progress."
            )
            shown = dataclasses.replace(message, blocks=(*message.blocks, hint))
            await responder.send(render(shown), "in_channel")
            return MessageRef(place, RESPONDED_PREFIX + self._responded.remember(responder))
        self._threads.add(place.channel, place.thread)  # a reply makes the thread exist
        channel = str(resp.get("channel") or channel_id)  # a post to a user id lands in a DM
        posted_place = (
            place
            if channel == channel_id
            else Place("slack", self.workspaces.channel_key(team, channel), place.thread, True, place.channel_name)
        )
        # A run that ended before its progress message was posted has only this final one
        # (reporter.py): its outcome shows in the channel as when the progress message is edited.
        await self._broadcast_final(posted_place, message)
        return MessageRef(posted_place, str(resp["ts"]))

    async def _post_joining(self, place: Place, post: Any, client: AsyncWebClient) -> Any:
        try:
            return await self.outbox.post(place.channel, post)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
        # A public channel the bot has not joined yet: join (channels:join) and retry once.
        try:
            await client.conversations_join(channel=self.workspaces.split(place.channel)[1])
        except SlackApiError as exc:
            log.info("slack: cannot join %s: %s", place.channel, exc.response.get("error"))
            raise
        return await self.outbox.post(place.channel, post)

    async def _send_ephemeral(
        self, place: Place, payload: dict[str, Any], user: str, responder: Responder | None, client: AsyncWebClient
    ) -> MessageRef:
        """Only ``user`` sees it. Through the response_url of their own command or click when
        there is one (works in every conversation, shows where they are looking); else
        chat.postEphemeral, in the thread only when that thread exists (Slack drops
        ephemerals sent into a thread that does not)."""
        if responder is not None and responder.user == user:
            try:
                await responder.send(payload, "ephemeral")
                return MessageRef(place, f"{EPHEMERAL_PREFIX}{user}:")
            except Exception as exc:  # noqa: BLE001 - expired, used up, network: the Web API is the fallback
                log.warning("slack: response_url answer failed (%s); trying chat.postEphemeral", exc)
        thread = place.thread if (place.channel, place.thread) in self._threads else None
        resp = await self.outbox.post(
            place.channel,
            lambda: client.chat_postEphemeral(
                channel=self.workspaces.split(place.channel)[1], user=user, thread_ts=thread, **payload
            ),
        )
        return MessageRef(place, f"{EPHEMERAL_PREFIX}{user}:{resp.get('message_ts', '')}")

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Edit in place (chat.update). Ephemeral messages cannot be edited through the Web
        API, so their update is a fresh ephemeral message to the same person. A message that
        went out through a response_url gets its news through it too: live progress edits
        are skipped (five answers at most), everything else is posted."""
        if ref.message_id.startswith(EPHEMERAL_PREFIX):
            user = ref.message_id[len(EPHEMERAL_PREFIX) :].split(":", 1)[0]
            await self.send(ref.place, dataclasses.replace(message, ephemeral_to=user))
            return
        if ref.message_id.startswith(RESPONDED_PREFIX):
            responder = self._responded.get(ref.message_id[len(RESPONDED_PREFIX) :])
            if message.tone == "running" and not message.extra.get("final"):
                return
            if responder is None or not responder.usable():
                log.warning("slack: cannot tell %s the news: its response_url has expired", ref.place.channel)
                return
            await responder.send(render(message), "in_channel")
            return

        team, channel_id = self.workspaces.split(ref.place.channel)
        client = (await self.workspaces.get(team)).client

        async def edit(latest: Message) -> None:
            await client.chat_update(channel=channel_id, ts=ref.message_id, **render(latest))

        await self.outbox.edit(ref.place.channel, ref.message_id, message, edit)
        await self._broadcast_final(ref.place, message)

    async def _broadcast_final(self, place: Place, message: Message) -> None:
        if place.thread and message.extra.get("final") and self.config.broadcast_final:
            # A run that lives in a thread: its outcome also shows in the channel.
            headline = next((b for b in message.blocks if isinstance(b, Section)), Section(message.text))
            await self.send(place, Message(message.text, (headline,), message.tone, extra={"broadcast": "true"}))


def build_slack_adapter(loaded: Any) -> SlackAdapter | None:
    """Adapter factory of the Slack plugin (``opsroom.features``; ``loaded`` is a LoadedConfig).
    Import this module only after checking ``chat.slack`` is configured: importing it loads
    slack_bolt."""
    config = loaded.config.chat.slack
    if config is None or not config.enabled:
        return None
    return SlackAdapter(config, public_url=loaded.config.server.public_url)
