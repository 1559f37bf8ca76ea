"""Slack adapter: slash commands, mentions, DMs, channel messages and Block Kit buttons, over
the HTTP Events API or Socket Mode, through Slack Bolt's async app.

Inbound: every request is verified before anything parses it (HMAC over
``v0:timestamp:body`` with a numeric timestamp in the five-minute window, else 401; the same
signature twice is a replay, 409; then a body Slack could have sent, else 400 — see
``slack_gate``), acknowledged at once, and turned into a
``MessageEvent``/``ActionEvent`` that the engine's handler gets in a background task, so
Slack's three-second deadline is always met however long the work takes. Deliveries carry a
platform-unique ``event_id`` (the engine refuses to process one twice, also across a
restart); retries of deliveries this process has already seen are dropped here before they
cost anything.

Outbound: one ``AsyncWebClient`` that retries 429 answers after ``Retry-After``, and a
per-channel pacer so a burst is spread out instead of rate-limited or lost.

This is the only module that imports slack_bolt/slack_sdk; it is imported only when
``chat.slack`` is configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Coroutine
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from opsroom.chat.base import Capabilities, InboundHandler, spawn_handler
from opsroom.chat.dedup import SeenSet
from opsroom.chat.pacing import Outbox
from opsroom.chat.slack_directory import SlackDirectory
from opsroom.chat.slack_gate import RequestGate, delivery_digest
from opsroom.chat.slack_render import BUTTON_ACTION_PREFIX, render, unescape
from opsroom.chat.slack_respond import (
    CURRENT,
    KnownThreads,
    RespondedMessages,
    Responder,
)
from opsroom.config.chat import SlackConfig
from opsroom.core import ActionEvent, Context, Inbound, Message, MessageEvent, MessageRef, Place, Section

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are a few KB; anything huge is not Slack
SEEN_DELIVERIES = 10_000
# Message subtypes that are still a person writing something; the rest (edits, deletions,
# joins, bot posts…) are not commands.
_USER_SUBTYPES = {None, "thread_broadcast", "file_share"}
EPHEMERAL_PREFIX = "ephemeral:"
RESPONDED_PREFIX = "responded:"
# chat.postMessage errors that mean "the bot is not in this conversation": a private channel
# or a DM it was never added to (channel_not_found), a public channel it has not joined.
_NOT_A_MEMBER = {"channel_not_found", "not_in_channel"}


class SlackAdapter:
    name = "slack"
    capabilities = Capabilities(threads=True, buttons=True, edits=True, ephemeral=True)

    def __init__(self, config: SlackConfig) -> None:
        self.config = config
        base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
        self.client = AsyncWebClient(token=config.bot_token, base_url=base_url)
        self.client.retry_handlers.append(
            AsyncRateLimitErrorRetryHandler(max_retry_count=config.max_rate_limit_retries)
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=config.signing_secret or "socket-mode-does-not-sign",
            # Socket Mode requests are never signature-checked by Bolt (they arrive over
            # an authenticated socket); HTTP requests always are.
            request_verification_enabled=True,
            logger=log,
        )
        self.app.use(self._drop_known_retries)
        self.app.command(re.compile(r"^/.+"))(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.action(re.compile("^" + re.escape(BUTTON_ACTION_PREFIX)))(self._on_action)
        self.outbox = Outbox(config.pace_seconds)
        self.bot_user_id = ""
        self.bot_name = "opsroom"
        self._handler: InboundHandler | None = None
        self._socket: Any = None
        self._seen = SeenSet(SEEN_DELIVERIES)
        self._gate = RequestGate(config.signing_secret or "socket-mode-does-not-sign")
        self._tasks: set[asyncio.Task[None]] = set()
        self.directory = SlackDirectory(self.client, lookup_emails=config.lookup_emails)
        self._responded = RespondedMessages()
        self._threads = KnownThreads()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, handler: InboundHandler) -> None:
        """Check the bot token (auth.test), learn the bot's own user id, then connect the
        socket (Socket Mode) or start accepting HTTP requests on ``routes()``."""
        auth = await self.client.auth_test()
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_name = str(auth.get("user") or "opsroom")
        self._handler = handler
        if self.config.mode == "socket":
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.config.app_token)
            await self._socket.connect_async()
        log.info("slack adapter started (%s mode) as %s", self.config.mode, self.bot_user_id)

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
        """Starlette routes for the HTTP Events API (none in Socket Mode). Point the Slack
        app's Event Subscriptions, Slash Commands and Interactivity URLs at them."""
        if self.config.mode != "http":
            return []
        bolt_http = AsyncSlackRequestHandler(self.app)

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

        return [
            Route(path, endpoint, methods=["POST"], name=f"slack_{path.rsplit('/', 1)[1]}")
            for path in ("/slack/events", "/slack/commands", "/slack/interactions")
        ]

    # -- inbound -----------------------------------------------------------------------

    async def _drop_known_retries(self, req: AsyncBoltRequest, resp: BoltResponse, next: Any) -> Any:
        """A retry (``X-Slack-Retry-Num`` ≥ 1) of a delivery already handled here is answered
        200 at once. A retry we have not seen (we were down) goes on: the engine's durable
        dedup decides."""
        retry = req.headers.get("x-slack-retry-num") or [""]
        if retry[0] not in ("", "0"):
            event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
            if event_id and f"slack:{event_id}" in self._seen:
                return BoltResponse(status=200, body="")
        return await next()

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        if self.config.echo_commands:
            await ack(response_type="in_channel")  # the channel sees the command that was run
        else:
            await ack()
        self._spawn(self._deliver_command(body, respond))

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        text = re.sub(rf"<@{re.escape(self.bot_user_id)}(\|[^>]*)?>", " ", event.get("text", "")).strip()
        self._deliver_event(body, event, text, addressed=True)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("subtype") not in _USER_SUBTYPES or event.get("bot_id"):
            return
        user = event.get("user")
        if not user or user == self.bot_user_id:
            return
        text = event.get("text", "")
        if event.get("channel_type") == "im":
            self._deliver_event(body, event, text, addressed=True)
            return
        if self.bot_user_id and f"<@{self.bot_user_id}" in text:
            return  # the app_mention event for the same message carries it
        if self.config.channels and event.get("channel") not in self.config.channels:
            return
        self._deliver_event(body, event, text, addressed=False)

    async def _on_action(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        self._spawn(self._deliver_action(body, respond))

    def _deliver_event(self, body: dict[str, Any], event: dict[str, Any], text: str, *, addressed: bool) -> None:
        delivery = f"slack:{body.get('event_id') or event.get('client_msg_id') or event.get('ts')}"
        if not self._seen.add(delivery):
            return
        self._threads.add(event.get("channel", ""), event.get("thread_ts"))
        self._spawn(
            self._emit_message(
                channel=event.get("channel", ""),
                is_direct=event.get("channel_type") == "im",
                thread=event.get("thread_ts"),
                user=event.get("user", ""),
                text=unescape(text).strip(),
                message_id=event.get("ts"),
                addressed=addressed,
                event_id=delivery,
            )
        )

    async def _deliver_command(self, body: dict[str, Any], respond: Any = None) -> None:
        command = body.get("command", "")
        args = unescape(body.get("text", "")).strip()
        if command == self.config.umbrella_command:
            text = args or "help"
        else:
            text = f"{command.lstrip('/')} {args}".strip()
        channel = body.get("channel_id", "")
        channel_name = body.get("channel_name", "")
        if channel_name and channel_name not in ("directmessage", "privategroup"):
            self.directory.channel_names.setdefault(channel, "#" + channel_name)
        # Without a trigger_id the body itself names the delivery: a replay is the same one.
        delivery = f"slack:cmd:{body.get('trigger_id') or delivery_digest(body)}"
        if not self._seen.add(delivery):
            return
        # Answers to this command can go back through its response_url (this task's context).
        responder = Responder(respond, channel, body.get("user_id", ""))
        CURRENT.set(responder)
        self._responded.remember(responder)
        await self._emit_message(
            channel=channel,
            is_direct=channel_name == "directmessage" or channel.startswith("D"),
            thread=None,
            user=body.get("user_id", ""),
            text=text,
            message_id=None,
            addressed=True,
            event_id=delivery,
            name_hint=body.get("user_name", ""),
        )

    async def _emit_message(
        self,
        *,
        channel: str,
        is_direct: bool,
        thread: str | None,
        user: str,
        text: str,
        message_id: str | None,
        addressed: bool,
        event_id: str,
        name_hint: str = "",
    ) -> None:
        name, email = await self.directory.user(user)
        place = Place(
            "slack", channel, thread, is_direct, "" if is_direct else await self.directory.channel_name(channel)
        )
        await self._hand_on(
            MessageEvent(
                place=place,
                sender_id=user,
                text=text,
                message_id=message_id,
                addressed=addressed,
                event_id=event_id,
                sender_name=name or name_hint,
                sender_email=email,
            )
        )

    async def _deliver_action(self, body: dict[str, Any], respond: Any = None) -> None:
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        message = body.get("message") or {}
        thread = message.get("thread_ts") or container.get("thread_ts")
        self._threads.add(channel, thread)
        CURRENT.set(Responder(respond, channel, user))
        is_direct = channel.startswith("D")
        place = Place(
            "slack", channel, thread, is_direct, "" if is_direct else await self.directory.channel_name(channel)
        )
        ref = None
        if not container.get("is_ephemeral") and container.get("message_ts"):
            ref = MessageRef(place, container["message_ts"])
        name, email = await self.directory.user(user)
        for action in body.get("actions") or []:
            value = action.get("value")
            if not value:
                continue  # a link button: Slack opens the URL, nothing for us to do
            delivery = f"slack:action:{body.get('trigger_id') or action.get('action_ts')}:{action.get('action_id')}"
            if not self._seen.add(delivery):
                continue
            await self._hand_on(
                ActionEvent(
                    place=place,
                    sender_id=user,
                    action_id=value,
                    message=ref,
                    event_id=delivery,
                    sender_name=name or (body.get("user") or {}).get("username", ""),
                    sender_email=email,
                )
            )

    async def _hand_on(self, event: Inbound) -> None:
        handler = self._handler
        if handler is not None:
            await handler(event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        spawn_handler(self._tasks, coro, "slack")

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
        responder = self._responder(place)
        private_to = message.ephemeral_to
        if responder is not None and message.extra.get("audience") == "asker":
            private_to = responder.user  # help, errors, denials: only the person who typed sees them
        if private_to:
            return await self._send_ephemeral(place, payload, private_to, responder)
        broadcast = bool(place.thread) and message.extra.get("broadcast", "").lower() in ("1", "true", "yes")

        async def post() -> Any:
            return await self.client.chat_postMessage(
                channel=place.channel,
                thread_ts=place.thread,
                reply_broadcast=broadcast or None,
                unfurl_links=False,
                unfurl_media=False,
                **payload,
            )

        try:
            resp = await self._post_joining(place, post)
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
        channel = str(resp.get("channel") or place.channel)  # a post to a user id lands in a DM
        posted_place = (
            place if channel == place.channel else Place("slack", channel, place.thread, True, place.channel_name)
        )
        return MessageRef(posted_place, str(resp["ts"]))

    async def _post_joining(self, place: Place, post: Any) -> Any:
        try:
            return await self.outbox.post(place.channel, post)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
        # A public channel the bot has not joined yet: join (channels:join) and retry once.
        try:
            await self.client.conversations_join(channel=place.channel)
        except SlackApiError as exc:
            log.info("slack: cannot join %s: %s", place.channel, exc.response.get("error"))
            raise
        return await self.outbox.post(place.channel, post)

    async def _send_ephemeral(
        self, place: Place, payload: dict[str, Any], user: str, responder: Responder | None
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
            lambda: self.client.chat_postEphemeral(channel=place.channel, user=user, thread_ts=thread, **payload),
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

        async def edit(latest: Message) -> None:
            await self.client.chat_update(channel=ref.place.channel, ts=ref.message_id, **render(latest))

        await self.outbox.edit(ref.place.channel, ref.message_id, message, edit)
        if ref.place.thread and message.extra.get("final") and self.config.broadcast_final:
            # A run that lives in a thread: its outcome also shows in the channel.
            headline = next((b for b in message.blocks if isinstance(b, Section)), Section(message.text))
            await self.send(ref.place, Message(message.text, (headline,), message.tone, extra={"broadcast": "true"}))


def build_slack_adapter(loaded: Any) -> SlackAdapter | None:
    """Adapter factory of the Slack plugin (``opsroom.features``; ``loaded`` is a LoadedConfig).
    Import this module only after checking ``chat.slack`` is configured: importing it loads
    slack_bolt."""
    config = loaded.config.chat.slack
    if config is None or not config.enabled:
        return None
    return SlackAdapter(config)
