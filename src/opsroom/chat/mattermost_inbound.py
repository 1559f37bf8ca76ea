"""What Mattermost sends to opsroom over HTTP: slash commands, button clicks and the reason
forms (interactive dialogs) some buttons open; and the handing on of every inbound event.

- Slash commands POST to ``/mattermost/command``; each request's token is compared in
  constant time with the configured command tokens; anything else is a 401.
- Buttons POST to ``/mattermost/actions``. Their ``context`` carries the engine's signed
  action id plus our own HMAC over it and the channel, so nobody can forge or move a click;
  an unsigned or altered one is a 401. A button that asks a question (a Deny's "why?") opens
  a dialog with the click's ``trigger_id`` instead (mattermost_dialog.py); its submission
  comes to ``/mattermost/actions/dialog`` and is handed on as the click with the answer.

``MattermostInbound`` is the adapter's inbound half (the adapter class inherits it); it
declares what it uses of the adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import uuid
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from opsroom.chat.base import InboundHandler, spawn_handler
from opsroom.chat.mattermost_api import MattermostApi, MattermostError
from opsroom.chat.mattermost_dialog import (
    CALLBACK_ID,
    FIELD,
    Asked,
    new_nonce,
    reason_dialog,
    seal,
    sign_button,
    unseal,
)
from opsroom.chat.mattermost_render import IntegrationFactory
from opsroom.chat.mattermost_reply import CURRENT, ClickReply, CommandReply, RepliedPosts, Reply, trusted_response_url
from opsroom.config.chat import MattermostConfig
from opsroom.core import ActionEvent, Button, Inbound, MessageEvent, MessageRef, Place
from opsroom.web import intake

log = logging.getLogger("opsroom.chat.mattermost")

MAX_BODY_BYTES = 64_000
SEEN_DELIVERIES = 10_000
NOT_VALID = "That button is not valid."
FORM_NOT_VALID = "That form is not valid (or was already sent)."


class MattermostInbound:
    config: MattermostConfig
    http: httpx.AsyncClient
    api: MattermostApi
    actions_url: str
    _key: bytes
    _handler: InboundHandler | None
    _tasks: set[asyncio.Task[None]]
    _seen: OrderedDict[str, None]
    _replied: RepliedPosts

    @property
    def dialog_url(self) -> str:
        return self.actions_url.rstrip("/") + "/dialog"

    # -- slash commands ----------------------------------------------------------------

    def _token_ok(self, token: str) -> bool:
        ok = False
        for expected in self.config.command_tokens:  # no early exit: same time for every token
            ok |= bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
        return ok

    async def _command_endpoint(self, request: Request) -> Response:
        body = await _limited_body(request)
        if body is None:
            return JSONResponse({"text": "request too large"}, status_code=413)
        header = request.headers.get("authorization", "")
        if header.startswith("Token ") and not self._token_ok(header[6:]):
            return JSONResponse({"text": "unknown command token"}, status_code=401)  # before parsing
        try:
            form = intake.form(body)
        except intake.BadBody as exc:
            return JSONResponse({"text": str(exc)}, status_code=400)
        token = header[6:] if header.startswith("Token ") else form.get("token", "")
        if not self._token_ok(token):
            return JSONResponse({"text": "unknown command token"}, status_code=401)
        if self._handler is None:
            return JSONResponse(
                {"response_type": "ephemeral", "text": "opsroom is starting, try again shortly"},
                status_code=503,
            )
        command = form.get("command", "")
        args = form.get("text", "").strip()
        if command == self.config.umbrella_command:
            text = args or "help"
        else:
            text = f"{command.lstrip('/')} {args}".strip()
        # Without a trigger_id the body names the delivery: a replayed request is the same one
        # (the engine's durable dedup drops it) instead of running the command again.
        delivery = f"mattermost:cmd:{form.get('trigger_id') or hashlib.sha256(body).hexdigest()[:32]}"
        if self._first_time(delivery):
            channel_name = form.get("channel_name", "")
            is_direct = "__" in channel_name  # DM channel names are "<id>__<id>"
            place = Place(
                "mattermost",
                form.get("channel_id", ""),
                form.get("root_id") or None,  # typed in a thread: answered in that thread
                is_direct,
                "" if is_direct or not channel_name else "#" + channel_name,
            )
            reply = CommandReply(
                place.channel,
                form.get("user_id", ""),
                trusted_response_url(form.get("response_url", ""), self.config.site_url or self.config.url),
                self.http,
            )
            self._replied.remember(reply)
            event = MessageEvent(
                place=place,
                sender_id=form.get("user_id", ""),
                text=text,
                addressed=True,
                event_id=delivery,
                sender_name=form.get("user_name", ""),
            )
            self._spawn(self._replying(reply, self._emit(event)))
        return JSONResponse({})  # nothing posted now; the engine answers in the channel

    # -- buttons -----------------------------------------------------------------------

    def _integration(self, channel_id: str) -> IntegrationFactory:
        def integration(index: int, action_id: str, *, asks: Button | None = None) -> dict[str, Any]:
            context = {"action_id": action_id, "channel_id": channel_id}
            if asks is None:
                context["sig"] = sign_button(self._key, channel_id, action_id)
            else:  # a reason form: what it asks is signed with the rest
                # the typed way, through the umbrella command (answered wherever it is typed)
                typed = asks.fallback.lstrip("/!").replace("REASON", "<reason>")
                hint = f"{self.config.umbrella_command} {typed}" if typed else ""
                context.update(asks=asks.asks, label=asks.label, hint=hint)
                context["sig"] = sign_button(self._key, channel_id, action_id, asks.asks, asks.label, hint)
            return {"url": self.actions_url, "context": context}

        return integration

    async def _actions_endpoint(self, request: Request) -> Response:
        body = await _limited_body(request)
        if body is None:
            return JSONResponse({"ephemeral_text": "request too large"}, status_code=413)
        try:
            payload = intake.loads(body)  # no NaN, huge numbers or deep nesting: a 401, not a 500
            context = payload.get("context") or {}
            action_id, channel, sig = context["action_id"], context["channel_id"], context["sig"]
            asks, label, hint = context.get("asks", ""), context.get("label", ""), context.get("hint", "")
            user, post_id = payload["user_id"], payload.get("post_id", "")
            if not all(isinstance(v, str) for v in (action_id, channel, sig, asks, label, hint, user, post_id)):
                raise TypeError("non-string field")
        except (ValueError, KeyError, TypeError, AttributeError):
            return JSONResponse({"ephemeral_text": NOT_VALID}, status_code=401)
        # The click must carry our signature and come from the channel the button was posted in.
        expected = sign_button(self._key, channel, action_id, asks, label, hint)
        if not hmac.compare_digest(sig.encode(), expected.encode()) or payload.get("channel_id") != channel:
            return JSONResponse({"ephemeral_text": NOT_VALID}, status_code=401)
        if self._handler is None:
            return JSONResponse({"ephemeral_text": "opsroom is starting, try again shortly"}, status_code=503)
        if asks:
            return await self._open_form(payload, Asked(action_id, channel, post_id, user, new_nonce()), label, hint)
        delivery = f"mattermost:action:{payload.get('trigger_id') or uuid.uuid4().hex}"
        if not self._first_time(delivery):
            return JSONResponse({})
        name = str(payload.get("user_name", ""))
        return await self._hand_on_click(
            ActionEvent(Place("mattermost", channel), user, action_id, None, delivery, name), post_id
        )

    async def _hand_on_click(self, event: ActionEvent, post_id: str, answer_as: str = "ephemeral_text") -> Response:
        reply = ClickReply(event.place.channel, event.sender_id)
        task = self._spawn(self._replying(reply, self._emit_action(event, post_id)))
        # Wait briefly for the engine's answer: a refusal then shows to the clicker as
        # ephemeral_text (or the form's error), which needs no permission (ephemeral posts
        # need system admin).
        await asyncio.wait({task}, timeout=self.config.click_answer_seconds)
        reply.open = False
        return JSONResponse({answer_as: "\n\n".join(reply.texts)} if reply.texts else {})

    async def _open_form(self, payload: dict[str, Any], asked: Asked, label: str, hint: str) -> Response:
        trigger = payload.get("trigger_id")
        context = payload["context"]
        if not isinstance(trigger, str) or not trigger:
            return JSONResponse({"ephemeral_text": "This Mattermost cannot open forms; " + _typed_way(hint)})
        dialog = reason_dialog(label, str(context["asks"]), hint, seal(self._key, asked))
        try:
            opened = {"trigger_id": trigger, "url": self.dialog_url, "dialog": dialog}
            await self.api.call("POST", "/actions/dialogs/open", opened)
        except (MattermostError, httpx.HTTPError) as exc:
            log.warning("mattermost: could not open the reason form: %s", exc)
            return JSONResponse({"ephemeral_text": "The form did not open; " + _typed_way(hint)})
        return JSONResponse({})

    async def _dialog_endpoint(self, request: Request) -> Response:
        """A reason form's submission: authenticated by its sealed state, then handed on as
        the click it answers, with the reason as ``ActionEvent.value``."""
        body = await _limited_body(request)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            payload = intake.loads(body)
            state, user, channel = payload["state"], payload["user_id"], payload["channel_id"]
            submission = payload.get("submission") or {}
            if not (
                all(isinstance(v, str) for v in (state, user, channel))
                and payload.get("type") == "dialog_submission"
                and payload.get("callback_id") == CALLBACK_ID
                and isinstance(submission, dict)
            ):
                raise TypeError("not a submission of our form")
        except (ValueError, KeyError, TypeError, AttributeError):
            return JSONResponse({"error": FORM_NOT_VALID}, status_code=401)
        asked = unseal(self._key, state)
        if asked is None or asked.user != user or asked.channel != channel:
            return JSONResponse({"error": FORM_NOT_VALID}, status_code=401)
        if payload.get("cancelled") is True:
            return JSONResponse({})  # closed without an answer: nothing changes
        reason = submission.get(FIELD)
        if not isinstance(reason, str) or not reason.strip():
            return JSONResponse({"errors": {FIELD: "Say why: the requester sees it, and it is audited."}})
        if self._handler is None:
            return JSONResponse({"error": "opsroom is starting, try again shortly"}, status_code=503)
        delivery = f"mattermost:dialog:{asked.nonce}"
        if not self._first_time(delivery):
            return JSONResponse({"error": FORM_NOT_VALID}, status_code=409)  # a replay
        event = ActionEvent(Place("mattermost", channel), user, asked.action_id, None, delivery, value=reason.strip())
        return await self._hand_on_click(event, asked.post_id, answer_as="error")

    async def _emit_action(self, event: ActionEvent, post_id: str) -> None:
        root = None
        if post_id:
            try:
                root = (await self.api.call("GET", f"/posts/{post_id}")).get("root_id") or None
            except (MattermostError, httpx.HTTPError):
                pass
        place = Place("mattermost", event.place.channel, root)
        ref = MessageRef(place, post_id) if post_id else None
        await self._emit(dataclasses.replace(event, place=place, message=ref))

    # -- handing on --------------------------------------------------------------------

    async def _emit(self, event: Inbound) -> None:
        if isinstance(event, MessageEvent):
            info = await self.api.user(event.sender_id)
            event = dataclasses.replace(
                event,
                sender_name=event.sender_name or info.get("username", ""),
                sender_email=info.get("email", "") if self.config.lookup_emails else "",
            )
        elif not event.sender_name or (self.config.lookup_emails and not event.sender_email):
            info = await self.api.user(event.sender_id)
            event = dataclasses.replace(
                event,
                sender_name=event.sender_name or info.get("username", ""),
                sender_email=info.get("email", "") if self.config.lookup_emails else "",
            )
        handler = self._handler
        if handler is not None:
            await handler(event)

    def _first_time(self, delivery: str) -> bool:
        if delivery in self._seen:
            return False
        self._seen[delivery] = None
        if len(self._seen) > SEEN_DELIVERIES:
            self._seen.popitem(last=False)
        return True

    @staticmethod
    async def _replying(reply: Reply, coro: Coroutine[Any, Any, None]) -> None:
        CURRENT.set(reply)  # this task's context: answers to this command/click go back its way
        await coro

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return spawn_handler(self._tasks, coro, "mattermost")


def _typed_way(hint: str) -> str:
    return f"type `{hint}` instead." if hint else "click again."


async def _limited_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than any Mattermost request would be."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
