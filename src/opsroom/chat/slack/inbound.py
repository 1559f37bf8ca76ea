"""What people do in Slack, turned into the engine's events: slash commands, mentions, DMs,
channel messages and button clicks (the ``SlackInbound`` half of the adapter).

Every delivery has a platform-unique id (``slack:<event_id>``, ``slack:cmd:<trigger_id>``…):
the in-process ``SeenSet`` drops repeats at once, the engine's durable ``processed_events``
after a restart. Each event's place carries its workspace (``Workspaces.channel_key``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError

from opsroom.chat.base import InboundHandler, spawn_handler
from opsroom.chat.dedup import SeenSet
from opsroom.chat.slack import modal
from opsroom.chat.slack.workspaces import Workspace, Workspaces
from opsroom.chat.slack_gate import delivery_digest
from opsroom.chat.slack_render import unescape
from opsroom.chat.slack_respond import CURRENT, KnownThreads, RespondedMessages, Responder
from opsroom.core import ActionEvent, Inbound, MessageEvent, MessageRef, Place

log = logging.getLogger("opsroom.chat.slack")

# Message subtypes that are still a person writing something; the rest (edits, deletions,
# joins, bot posts…) are not commands.
USER_SUBTYPES = {None, "thread_broadcast", "file_share"}


def team_of(body: dict[str, Any], context: Any = None) -> str:
    """The workspace a delivery belongs to (events, commands, interactions, views)."""
    found = (context or {}).get("team_id") if context is not None else None
    team = body.get("team")
    return str(found or body.get("team_id") or (team.get("id") if isinstance(team, dict) else "") or "")


class SlackInbound:
    config: Any
    workspaces: Workspaces
    bot_user_id: str
    _handler: InboundHandler | None
    _seen: SeenSet
    _threads: KnownThreads
    _responded: RespondedMessages
    _tasks: set[asyncio.Task[None]]

    def _bot_id(self, context: Any) -> str:
        return str((context or {}).get("bot_user_id") or self.bot_user_id)

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

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any, context: Any = None) -> None:
        if self.config.echo_commands:
            await ack(response_type="in_channel")  # the channel sees the command that was run
        else:
            await ack()
        self._spawn(self._deliver_command(body, respond, team_of(body, context)))

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any = None) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        bot = self._bot_id(context)
        text = re.sub(rf"<@{re.escape(bot)}(\|[^>]*)?>", " ", event.get("text", "")).strip()
        self._deliver_event(team_of(body, context), body.get("event_id"), event, text, addressed=True)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any = None) -> None:
        self.note_message(team_of(body, context), event, body.get("event_id"), self._bot_id(context))

    def note_message(self, team: str, event: dict[str, Any], event_id: str | None, bot: str) -> None:
        """A ``message`` event (live, or fetched again after a socket drop)."""
        self._saw(team, event)
        if event.get("subtype") not in USER_SUBTYPES or event.get("bot_id"):
            return
        user = event.get("user")
        if not user or user == bot:
            return
        text = event.get("text", "")
        if event.get("channel_type") == "im":
            self._deliver_event(team, event_id, event, text, addressed=True)
            return
        if bot and f"<@{bot}" in text:
            if event_id is None:  # fetched again: no app_mention will come for it
                text = re.sub(rf"<@{re.escape(bot)}(\|[^>]*)?>", " ", text).strip()
                self._deliver_event(team, event_id, event, text, addressed=True)
            return  # live: the app_mention event for the same message carries it
        channel = event.get("channel", "")
        allowed = self.config.channels
        if allowed and channel not in allowed and self.workspaces.channel_key(team, channel) not in allowed:
            return
        self._deliver_event(team, event_id, event, text, addressed=False)

    def _saw(self, team: str, event: dict[str, Any]) -> None:
        """Hook for the catch-up (the newest message seen per channel)."""

    async def _on_action(
        self, ack: Any, body: dict[str, Any], respond: Any, context: Any = None, client: Any = None
    ) -> None:
        await ack()
        team = team_of(body, context)
        actions = body.get("actions") or []
        if actions and modal.asks(actions[0]) and await self._open_ask(body, actions[0], client):
            return  # the dialog's submission is the click
        self._spawn(self._deliver_action(body, respond, team))

    async def _open_ask(self, body: dict[str, Any], action: dict[str, Any], client: Any) -> bool:
        """Open the button's question as a modal (the trigger_id is good for three seconds)."""
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        message = body.get("message") or {}
        meta = {
            "v": action.get("value"),
            "ch": channel,
            "m": "" if container.get("is_ephemeral") else container.get("message_ts", ""),
            "t": message.get("thread_ts") or container.get("thread_ts") or "",
        }
        label = str((action.get("text") or {}).get("text", ""))
        view = modal.ask_view(modal.asks(action), label, meta)
        if view is None or client is None:
            return False
        try:
            await client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
        except SlackApiError as exc:  # expired or used trigger: the plain click explains the typed way
            log.info("slack: cannot open the %s dialog: %s", label, exc.response.get("error"))
            return False
        return True

    async def _on_view(self, ack: Any, body: dict[str, Any], context: Any = None) -> None:
        meta, reason = modal.submitted(body)
        if not reason:
            await ack(response_action="errors", errors={modal.BLOCK_ID: "Say why: it is shown and audited."})
            return
        await ack()
        self._spawn(self._deliver_reason(body, meta, reason, team_of(body, context)))

    async def _deliver_reason(self, body: dict[str, Any], meta: dict[str, Any], reason: str, team: str) -> None:
        user = (body.get("user") or {}).get("id", "")
        channel, thread = str(meta.get("ch", "")), str(meta.get("t") or "") or None
        delivery = f"slack:view:{(body.get('view') or {}).get('id', '')}"
        if not meta.get("v") or not channel or not self._seen.add(delivery):
            return
        workspace = await self.workspaces.get(team)
        place = await self._place(workspace, channel, thread, channel.startswith("D"))
        name, email = await workspace.directory.user(user)
        await self._hand_on(
            ActionEvent(
                place=place,
                sender_id=user,
                action_id=str(meta["v"]),
                message=MessageRef(place, str(meta["m"])) if meta.get("m") else None,
                event_id=delivery,
                sender_name=name or (body.get("user") or {}).get("username", ""),
                sender_email=email,
                value=reason,
            )
        )

    def _deliver_event(
        self, team: str, event_id: str | None, event: dict[str, Any], text: str, *, addressed: bool
    ) -> None:
        if event_id:
            self._seen.add(f"slack:{event_id}")  # for _drop_known_retries
        # The message itself names the delivery (its channel and ts), so a message fetched
        # again after a socket drop and Slack's own late redelivery of it are the same one.
        channel = event.get("channel", "")
        delivery = f"slack:msg:{self.workspaces.channel_key(team, channel)}:{event.get('ts')}"
        if not self._seen.add(delivery):
            return
        self._threads.add(self.workspaces.channel_key(team, channel), event.get("thread_ts"))
        self._spawn(
            self._emit_message(
                team=team,
                channel=channel,
                is_direct=event.get("channel_type") == "im",
                thread=event.get("thread_ts"),
                user=event.get("user", ""),
                text=unescape(text).strip(),
                message_id=event.get("ts"),
                addressed=addressed,
                event_id=delivery,
            )
        )

    async def _deliver_command(self, body: dict[str, Any], respond: Any = None, team: str = "") -> None:
        command = body.get("command", "")
        args = unescape(body.get("text", "")).strip()
        if command == self.config.umbrella_command:
            text = args or "help"
        else:
            text = f"{command.lstrip('/')} {args}".strip()
        channel = body.get("channel_id", "")
        channel_name = body.get("channel_name", "")
        workspace = await self.workspaces.get(team)
        if channel_name and channel_name not in ("directmessage", "privategroup"):
            workspace.directory.channel_names.setdefault(channel, "#" + channel_name)
        # Without a trigger_id the body itself names the delivery: a replay is the same one.
        delivery = f"slack:cmd:{body.get('trigger_id') or delivery_digest(body)}"
        if not self._seen.add(delivery):
            return
        key = self.workspaces.channel_key(team, channel)
        # Answers to this command can go back through its response_url (this task's context).
        responder = Responder(respond, key, body.get("user_id", ""))
        CURRENT.set(responder)
        self._responded.remember(responder)
        await self._emit_message(
            team=team,
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

    async def _place(self, workspace: Workspace, channel: str, thread: str | None, is_direct: bool) -> Place:
        name = "" if is_direct else await workspace.directory.channel_name(channel)
        team = workspace.team_id
        return Place(
            "slack",
            self.workspaces.channel_key(team, channel),
            thread,
            is_direct,
            self.workspaces.channel_name(team, name),
        )

    async def _emit_message(
        self,
        *,
        team: str,
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
        workspace = await self.workspaces.get(team)
        name, email = await workspace.directory.user(user)
        await self._hand_on(
            MessageEvent(
                place=await self._place(workspace, channel, thread, is_direct),
                sender_id=user,
                text=text,
                message_id=message_id,
                addressed=addressed,
                event_id=event_id,
                sender_name=name or name_hint,
                sender_email=email,
            )
        )

    async def _deliver_action(self, body: dict[str, Any], respond: Any = None, team: str = "") -> None:
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        message = body.get("message") or {}
        thread = message.get("thread_ts") or container.get("thread_ts")
        self._threads.add(self.workspaces.channel_key(team, channel), thread)
        workspace = await self.workspaces.get(team)
        place = await self._place(workspace, channel, thread, channel.startswith("D"))
        CURRENT.set(Responder(respond, place.channel, user))
        ref = None
        if not container.get("is_ephemeral") and container.get("message_ts"):
            ref = MessageRef(place, container["message_ts"])
        name, email = await workspace.directory.user(user)
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
