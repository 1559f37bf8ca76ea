"""Microsoft Teams adapter on the Microsoft 365 Agents SDK (``microsoft-agents-hosting-core``).

- ``POST /teams/messages`` on opsroom's own server. The caller is authenticated before the
  body is read (teams_http.py: the SDK's ``JwtTokenValidator``), then the request goes through
  the SDK's framework-neutral ``HttpAdapterBase.process_request``, which also checks the
  token's service URL claim against the activity. No token, no turn — only the explicit
  ``local_development_without_auth`` switch accepts anonymous callers.
- Every turn stores the conversation reference (service URL, ids), so alerts, escalations and
  approval requests are proactive messages to any conversation the bot has seen.
- Messages are Adaptive Cards (teams_render); buttons are ``Action.Execute`` with an
  ``Action.Submit`` fallback. Their data carries the engine's signed action id plus our HMAC
  over it and the conversation, so a button cannot be forged or replayed elsewhere. A button
  that asks (a Deny's "why?") shows a required text box first; its answer rides in the data.
- A run's card is refreshed in place (``update_activity``); replies go to the reply chain
  (``<conversation>;messageid=<root>``); a 429 from Teams waits ``Retry-After`` and retries.
- People are their Entra object id (``from.aadObjectId``); the directory maps it
  (``identities: {teams: <object id>}``) — display names are never trusted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from microsoft_agents.activity import Activity, ConversationReference
from microsoft_agents.activity import AdaptiveCardInvokeResponse as InvokeResponse
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    ChannelAdapter,
    ClaimsIdentity,
    Connections,
    ConnectorClientBase,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core._http_adapter_base import HttpAdapterBase
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from opsroom.chat.base import Capabilities, InboundHandler, spawn_handler
from opsroom.chat.base import finish_tasks as _finish
from opsroom.chat.local_state import LocalState
from opsroom.chat.pacing import Outbox
from opsroom.chat.teams_http import StarletteRequest, authenticate, http_adapter, same_service_host
from opsroom.chat.teams_render import ACTION_VERB, ANSWER_INPUT, activity_body
from opsroom.config.chat import TeamsConfig
from opsroom.core import ActionEvent, Inbound, Message, MessageEvent, MessageRef, OpsroomError, Place
from opsroom.web import intake

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256_000
UPN_CACHE_SECONDS = 3600.0
T = TypeVar("T")


class TeamsError(OpsroomError):
    """Teams refused a request."""


def split_conversation(conversation_id: str) -> tuple[str, str | None]:
    """``19:x@thread.tacv2;messageid=123`` → (``19:x@thread.tacv2``, ``123``)."""
    base, _, rest = conversation_id.partition(";messageid=")
    return base, rest or None


class TeamsAdapter:
    name = "teams"
    capabilities = Capabilities(threads=True, buttons=True, edits=True)

    def __init__(
        self,
        config: TeamsConfig,
        *,
        channel_adapter: ChannelAdapter,
        connections: Connections,
        store: Path,
        signing_key: bytes,
        auth: AgentAuthConfiguration | None,
    ) -> None:
        """``channel_adapter`` is the SDK adapter that talks to Teams (``build_teams_adapter``
        makes one with MSAL credentials; tests pass the SDK's TestAdapter); ``connections``
        gives the app its outbound credentials; ``auth`` is how incoming tokens are validated
        (None only with local_development_without_auth)."""
        if auth is None and not config.local_development_without_auth:
            raise ValueError("teams: incoming activities need authentication (app_id)")
        self.config = config
        self.channel_adapter = channel_adapter
        self.auth = auth
        self.state = LocalState(store, "opsroom-teams.sqlite")
        self._key = hashlib.sha256(b"opsroom-teams-actions\0" + signing_key).digest()
        self.outbox = Outbox(config.pace_seconds)
        self._handler: InboundHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._upns: dict[str, tuple[float, str]] = {}
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            storage=MemoryStorage(),
            bot_app_id=config.app_id,
            connection_manager=connections,
            remove_recipient_mention=True,
            start_typing_timer=False,
        )
        # The SDK's default posts "Exception caught: …" into the conversation; errors are logged, not shown.
        channel_adapter.on_turn_error = self._on_turn_error
        self.app.activity("message")(self._on_message)
        self.app.conversation_update("membersAdded")(self._on_members_added)
        self.app.adaptive_card.action_execute(ACTION_VERB)(self._on_execute)

    # -- lifecycle ---------------------------------------------------------------------

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        log.error("teams: a turn failed: %s", type(error).__name__, exc_info=error)

    async def start(self, handler: InboundHandler) -> None:
        self._handler = handler

    async def stop(self) -> None:
        await _finish(self._tasks)
        self._handler = None
        self.state.close()

    def routes(self) -> list[BaseRoute]:
        return [Route("/teams/messages", self._messages_endpoint, methods=["POST"], name="teams_messages")]

    # -- the HTTP entry point ----------------------------------------------------------

    async def _messages_endpoint(self, request: Request) -> Response:
        claims = await authenticate(self.auth, request.headers.get("authorization", ""))
        if claims is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY_BYTES:
                return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            body = intake.loads(raw)  # BadBody (a ValueError) for NaN, huge numbers, deep nesting
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"error": "the body is not a JSON activity"}, status_code=400)
        if not same_service_host(claims, body):
            log.warning("teams: refused an activity whose serviceUrl is not the one its token was issued for")
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if self._handler is None:
            return JSONResponse({"error": "opsroom is starting, try again shortly"}, status_code=503)
        if not isinstance(self.channel_adapter, HttpAdapterBase):
            return JSONResponse({"error": "this adapter does not take HTTP"}, status_code=501)
        result = await self.channel_adapter.process_request(StarletteRequest(request, body, claims), self.app)
        if result.body is None:
            return Response(status_code=result.status_code)
        return JSONResponse(result.body, status_code=result.status_code)

    # -- turns -------------------------------------------------------------------------

    def _remember(self, context: TurnContext) -> None:
        reference = context.activity.get_conversation_reference()
        base, _ = split_conversation(reference.conversation.id)
        self.state.put("ref:" + base, reference.model_dump_json(by_alias=True, exclude_none=True))

    def _place(self, activity: Activity) -> Place:
        base, thread = split_conversation(activity.conversation.id)
        kind = activity.conversation.conversation_type or ""
        direct = kind == "personal"
        name = self.config.channel_names.get(base, "")
        channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        if not name and (channel := channel_data.get("channel") or {}).get("name"):
            name = "#" + str(channel["name"]).lstrip("#")
        if thread is None and kind == "channel" and activity.reply_to_id:
            thread = activity.reply_to_id
        return Place("teams", base, thread, direct, "" if direct else name)

    @staticmethod
    def _sender(activity: Activity) -> tuple[str, str]:
        who = activity.from_property
        return (who.aad_object_id or "", who.name or "") if who else ("", "")

    async def _on_message(self, context: TurnContext, state: TurnState) -> None:
        self._remember(context)
        activity = context.activity
        if not activity.text and isinstance(activity.value, dict):  # Action.Submit fallback
            await self._on_click(context, activity.value)
            return
        sender, name = self._sender(activity)
        if not sender:
            return  # not a person of this tenant (no Entra object id): nothing to authorize
        upn = await self._upn(context, sender)
        place = self._place(activity)
        bot = activity.recipient.id if activity.recipient else ""
        # Without resource-specific consent Teams delivers channel messages only when the bot
        # is @mentioned; with it, every message arrives and only mentions and DMs are for us
        # (a plain one is still read when it starts with ! or /).
        mentioned = any(m.mentioned and m.mentioned.id == bot for m in activity.get_mentions())
        self._spawn(
            self._emit(
                MessageEvent(
                    place=place,
                    sender_id=sender,
                    text=(activity.text or "").strip(),
                    message_id=activity.id,
                    addressed=mentioned or place.is_direct,
                    event_id=f"teams:{activity.conversation.id}:{activity.id}",
                    sender_name=name,
                    sender_email=upn,
                )
            )
        )

    async def _on_members_added(self, context: TurnContext, state: TurnState) -> None:
        self._remember(context)  # the bot was added: now it can post alerts here

    async def _on_execute(self, context: TurnContext, state: TurnState, data: Any) -> InvokeResponse:
        self._remember(context)
        accepted = await self._on_click(context, data if isinstance(data, dict) else {})
        if not accepted:
            return InvokeResponse(
                status_code=401,
                type="application/vnd.microsoft.error",
                value={"code": "Unauthorized", "message": "That button is not valid."},
            )
        return InvokeResponse(
            status_code=200, type="application/vnd.microsoft.activity.message", value="Working on it…"
        )

    async def _on_click(self, context: TurnContext, data: dict[str, Any]) -> bool:
        activity = context.activity
        base, _ = split_conversation(activity.conversation.id)
        action_id, sig = data.get("opsroom"), data.get("sig")
        if not (isinstance(action_id, str) and isinstance(sig, str)) or not hmac.compare_digest(
            sig, self._sign(base, action_id)
        ):
            log.warning("teams: refused a button click with bad data in %s", base)
            return False
        sender, name = self._sender(activity)
        if not sender:
            return False
        upn = await self._upn(context, sender)
        place = self._place(activity)
        ref = MessageRef(place, activity.reply_to_id) if activity.reply_to_id else None
        answer = data.get(ANSWER_INPUT)  # what the card's text box asked for (a Deny's reason)
        self._spawn(
            self._emit(
                ActionEvent(
                    place=place,
                    sender_id=sender,
                    action_id=action_id,
                    message=ref,
                    event_id=f"teams:{activity.conversation.id}:{activity.id}",
                    sender_name=name,
                    sender_email=upn,
                    value=answer.strip()[:2000] if isinstance(answer, str) else "",
                )
            )
        )
        return True

    async def _upn(self, context: TurnContext, aad_object_id: str) -> str:
        """The sender's user principal name from the conversation roster (cached an hour), so
        a directory that knows people by email (``identities: {email: …}``) maps them too.
        The object id stays the primary key; the UPN is only the fallback."""
        cached = self._upns.get(aad_object_id)
        if cached and time.monotonic() - cached[0] < UPN_CACHE_SECONDS:
            return cached[1]
        connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        base, _ = split_conversation(context.activity.conversation.id)
        upn = ""
        if connector is not None:
            try:
                member = await connector.conversations.get_conversation_member(base, aad_object_id)
                upn = str((member.model_extra or {}).get("userPrincipalName") or "")
            except Exception as exc:  # the roster is a convenience: without it, the object id still maps
                log.warning("teams: looking up %s in %s failed: %s", aad_object_id, base, type(exc).__name__)
        self._upns[aad_object_id] = (time.monotonic(), upn)
        return upn

    def _sign(self, conversation: str, action_id: str) -> str:
        return hmac.new(self._key, f"{conversation}\n{action_id}".encode(), hashlib.sha256).hexdigest()

    async def _emit(self, event: Inbound) -> None:
        handler = self._handler
        if handler is not None:
            await handler(event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        spawn_handler(self._tasks, coro, "teams")

    # -- outbound (proactive, through stored conversation references) -------------------

    def _activity(self, conversation: str, message: Message) -> Activity:
        mentions = [(uid, p.display_name or p.name) for p in message.mentions if (uid := p.identities.get("teams", ""))]

        def data_for(action_id: str) -> dict[str, Any]:
            return {"opsroom": action_id, "sig": self._sign(conversation, action_id)}

        return Activity.model_validate({"type": "message", **activity_body(message, mentions, data_for)})

    async def _in_conversation(self, place: Place, turn: Callable[[TurnContext], Awaitable[T]]) -> T:
        saved = self.state.get("ref:" + place.channel)
        if not saved:
            raise TeamsError(f"teams: opsroom has never been in conversation {place.channel}; add the app there first")
        reference = ConversationReference.model_validate_json(saved)
        if place.thread:
            reference.conversation.id = f"{place.channel};messageid={place.thread}"
        results: list[T] = []
        errors: list[Exception] = []

        async def callback(context: TurnContext) -> None:
            try:  # caught here: the SDK's turn-error handler would post the error into the chat
                results.append(await turn(context))
            except Exception as exc:
                errors.append(exc)

        claims = ClaimsIdentity({"aud": self.config.app_id, "appid": self.config.app_id})
        for attempt in range(self.config.max_rate_limit_retries + 1):
            errors.clear()
            await self.channel_adapter.continue_conversation_with_claims(
                claims, reference.get_continuation_activity(), callback
            )
            if results:
                return results[0]
            exc = errors[0] if errors else TeamsError(f"teams: nothing was sent to {place.channel}")
            if isinstance(exc, aiohttp.ClientResponseError):
                if exc.status != 429 or attempt == self.config.max_rate_limit_retries:
                    raise TeamsError(
                        f"teams: {place.channel} refused the message ({exc.status}): {exc.message}"
                    ) from None
                retry_after = str(exc.headers.get("Retry-After", "1") if exc.headers else "1")
                await asyncio.sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 1.0)
                continue
            raise exc
        raise AssertionError("unreachable")

    async def send(self, place: Place, message: Message) -> MessageRef:
        activity = self._activity(place.channel, message)

        async def post(context: TurnContext) -> str:
            sent = await context.send_activity(activity)
            return str(sent.id) if sent and sent.id else ""

        message_id = await self.outbox.post(place.channel, lambda: self._in_conversation(place, post))
        return MessageRef(place, message_id)

    async def update(self, ref: MessageRef, message: Message) -> None:
        async def refresh(latest: Message) -> None:
            activity = self._activity(ref.place.channel, latest)
            activity.id = ref.message_id

            async def put(context: TurnContext) -> None:
                await context.update_activity(activity)

            await self._in_conversation(ref.place, put)

        await self.outbox.edit(ref.place.channel, ref.message_id, message, refresh)


def build_teams_adapter(loaded: Any, *, state_dir: Path, signing_key: bytes) -> TeamsAdapter | None:
    """Adapter factory (``loaded`` is a LoadedConfig): MSAL client-secret credentials for
    outbound calls, the SDK's JWT validation for inbound ones."""
    config = loaded.config.chat.teams
    if config is None or not config.enabled:
        return None
    from microsoft_agents.authentication.msal import MsalConnectionManager

    auth = None
    if config.app_id:
        auth = AgentAuthConfiguration(
            client_id=config.app_id,
            client_secret=config.app_password,
            tenant_id=config.tenant_id or None,
            validate_issuer=True,
        )
    connections = MsalConnectionManager(
        connections_configurations={"SERVICE_CONNECTION": auth or AgentAuthConfiguration(anonymous_allowed=True)}
    )

    store = Path(config.store_path) if config.store_path else state_dir / "teams"
    if not store.is_absolute():
        store = loaded.base_dir / store
    return TeamsAdapter(
        config,
        channel_adapter=http_adapter(config, connections),
        connections=connections,
        store=store,
        signing_key=signing_key,
        auth=auth,
    )


__all__ = ["TeamsAdapter", "TeamsError", "build_teams_adapter", "http_adapter", "split_conversation"]
