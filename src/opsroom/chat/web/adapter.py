"""The built-in web chat as a chat platform adapter.

It behaves like any other adapter: people's messages become ``MessageEvent``s, button
clicks become ``ActionEvent``s, and the engine answers through ``send``/``update``. The only
differences are that the history lives in opsroom's own database and that opsroom itself
authenticates the people (so the sender id is the opsroom user name).

The HTTP side (pages, WebSocket, JSON API) lives in ``opsroom.web``; it calls ``post`` and
``click`` here after it has checked who is signed in.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Sequence

import structlog
from markupsafe import Markup

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.chat.web import codec, rooms
from opsroom.chat.web import store as msg_store
from opsroom.chat.web.channels import DM_PREFIX, PLATFORM, Channels
from opsroom.chat.web.hub import Hub
from opsroom.chat.web.render import message_html, user_text_html
from opsroom.config.loader import LoadedConfig
from opsroom.core import ActionEvent, Message, MessageEvent, MessageRef, Place, Principal
from opsroom.errors import Refusal
from opsroom.policy import redaction

log = structlog.get_logger("opsroom.webchat")

MAX_TEXT = 4000


class WebChatError(Refusal):
    """A request the web chat refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WebChatAdapter:
    name = PLATFORM
    capabilities = Capabilities(threads=True, buttons=True, edits=True, ephemeral=True, create_channel=True)

    def __init__(self) -> None:
        self.hub = Hub()
        self.handler: InboundHandler | None = None
        self._system: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Derived from the config object they were built from (kept, so a reloaded config is
        # never mistaken for the old one), rebuilt when ``opsroom reload`` swaps it.
        self._channels: tuple[Any, Channels] | None = None
        self._users: tuple[Any, frozenset[str]] | None = None
        # Called with each stored message after it is published (the bench and tests hook in).
        self.on_published: Callable[[msg_store.StoredMessage], Awaitable[None] | None] | None = None
        # Cluster mode (cluster/fanout.py): told of each new or edited message inside its write
        # transaction, so other replicas show it live once it is committed.
        self.announce: Callable[[Any, str, int, str], None] | None = None

    # -- wiring ------------------------------------------------------------------------------------
    def bind(self, system: Any) -> None:
        """Give the adapter the running system's database, config and directory (done by
        ``opsroom.web.app.build_app``; tests may call it directly)."""
        self._system = system

    @property
    def db(self) -> Any:
        if self._system is None:
            raise RuntimeError("the web chat adapter is not bound to a system (WebChatAdapter.bind)")
        return self._system.db

    @property
    def channels(self) -> Channels:
        config = self._system.config
        if self._channels is None or self._channels[0] is not config:
            with self.db.read() as conn:
                created = rooms.load(conn)
            self._channels = (config, Channels(config.channels, created))
        return self._channels[1]

    async def create_channel(self, name: str, *, members: Sequence[str], topic: str, created_by: str) -> Place:
        """A war room (chat.base.ChannelCreator): a channel in ``webchat_channels``."""
        taken = {c.id for c in self.channels}
        async with self.db.write() as conn:
            channel = rooms.create(conn, name, members=tuple(members), topic=topic, created_by=created_by, taken=taken)
            self._announce(conn, "rooms", 0)  # other replicas forget their channel list too
        self._channels = None  # the next look sees it
        return Place(PLATFORM, channel.id, channel_name=channel.name)

    async def archive_channel(self, place: Place) -> None:
        async with self.db.write() as conn:
            rooms.archive(conn, place.channel)
            self._announce(conn, "rooms", 0)
        self._channels = None

    def principal(self, user: str) -> Principal | None:
        found: Principal | None = self._system.engine.parts.directory.get(user)
        return found

    def user_names(self) -> frozenset[str]:
        """Known user names (for @mentions), rebuilt only when the config is reloaded."""
        config = self._system.config
        if self._users is None or self._users[0] is not config:
            self._users = (config, frozenset(config.users))
        return self._users[1]

    def direct_place(self, principal: Principal) -> Place | None:
        """Where a direct message to this person goes (guardrails/notify.py tells approvers)."""
        if not principal.known:
            return None
        return self.channels.place(DM_PREFIX + principal.name)

    async def start(self, handler: InboundHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        self.hub.close_all()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every inbound event handed to the engine has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- outbound (the engine talks) ----------------------------------------------------------------
    async def send(self, place: Place, message: Message) -> MessageRef:
        thread = int(place.thread) if place.thread and place.thread.isdigit() else None
        async with self.db.write() as conn:  # shared commit (store/db.py)
            stored = msg_store.insert(
                conn,
                channel=place.channel,
                sender=msg_store.BOT,
                text=message.text,
                is_bot=True,
                body=codec.encode(message),
                thread=thread,
                visible_to=message.ephemeral_to,
            )
            self._announce(conn, "message", stored.id, stored.channel)
        await self._publish(stored, "message")
        return MessageRef(place, str(stored.id))

    async def update(self, ref: MessageRef, message: Message) -> None:
        if not ref.message_id.isdigit():
            raise LookupError(f"no web chat message {ref.message_id!r}")
        async with self.db.write() as conn:  # shared commit (store/db.py)
            stored = msg_store.edit(conn, int(ref.message_id), text=message.text, body=codec.encode(message))
            if stored is not None:
                self._announce(conn, "edit", stored.id, stored.channel)
        if stored is None:
            raise LookupError(f"no web chat message {ref.message_id!r}")
        await self._publish(stored, "edit")

    # -- inbound (a signed-in person acts) ------------------------------------------------------
    async def post(
        self, principal: Principal, channel: str, text: str, thread: int | None = None, *, also_channel: bool = False
    ) -> msg_store.StoredMessage:
        """Store and show what the person wrote, then hand it to the engine (in the
        background: the answer arrives over the live connection). ``also_channel`` (a reply
        only, like Slack's "Also send to channel"): a copy is shown in the channel too, marked
        as a thread reply and linking to it; only the reply goes to the engine."""
        text = text.strip()
        if not text:
            raise WebChatError("the message is empty")
        if len(text) > MAX_TEXT:
            raise WebChatError(f"the message is too long (at most {MAX_TEXT} characters)")
        if not self.channels.may_see(principal, channel):
            raise WebChatError(f"there is no channel {channel!r} you belong to", 404)
        if thread is not None:
            with self.db.read() as conn:
                parent = msg_store.get(conn, thread)
            if parent is None or parent.channel != channel:
                raise WebChatError(f"there is no message {thread} in this channel to reply to", 404)
            thread = parent.thread or parent.id
        async with self.db.write() as conn:  # shared commit (store/db.py)
            # What is kept and shown is redacted (a token pasted by mistake stays out of the
            # database and everyone's screen); the engine still gets what was typed.
            shown = (getattr(self._system, "redactor", None) or redaction.current())(text)
            stored = msg_store.insert(conn, channel=channel, sender=principal.name, text=shown, thread=thread)
            copy = None
            if also_channel and thread is not None:
                copy = msg_store.insert(
                    conn,
                    channel=channel,
                    sender=principal.name,
                    text=shown,
                    body={ALSO_SENT: {"thread": thread, "reply": stored.id}},
                )
            self._announce(conn, "message", stored.id, stored.channel)
            if copy is not None:
                self._announce(conn, "message", copy.id, copy.channel)
        await self._publish(stored, "message")
        if copy is not None:
            await self._publish(copy, "message")
        place = self.channels.place(channel, str(thread) if thread else None)
        event = MessageEvent(
            place,
            principal.name,
            text,
            message_id=str(stored.id),
            # A bare "help" in a channel is for the bot too (answered only to the asker).
            addressed=place.is_direct or text.lower() in ("help", "help?"),
            event_id=f"web:{stored.id}",
            sender_name=principal.label,
        )
        self._spawn(event)
        return stored

    async def click(self, principal: Principal, message_id: int, action_id: str, value: str = "") -> None:
        """A button was clicked: only a button the message really carries, in a channel the
        person may see. The engine checks the signature, expiry and permission."""
        with self.db.read() as conn:
            stored = msg_store.get(conn, message_id)
        if stored is None or not self.visible(principal, stored):
            self._refused(
                principal,
                "",
                f"button click on message {message_id}, which {principal.name} cannot see",
                "no such message",
            )
            raise WebChatError(f"there is no message {message_id} you can see", 404)
        if action_id not in codec.button_ids(stored.body):
            self._refused(
                principal,
                stored.channel,
                f"button click on message {message_id} refused: that message has no such button (forged or settled)",
                "no such button",
            )
            raise WebChatError("that message has no such button", 400)
        place = self.channels.place(stored.channel, str(stored.thread) if stored.thread else None)
        ref = MessageRef(
            self.channels.place(stored.channel, str(stored.thread) if stored.thread else None), str(stored.id)
        )
        self._spawn(
            ActionEvent(
                place, principal.name, action_id, message=ref, sender_name=principal.label, value=value.strip()[:300]
            )
        )

    def _refused(self, principal: Principal, channel: str, summary: str, reason: str) -> None:
        """Every refused click is on the record (issue 11): forged action ids and clicks on
        buttons a message no longer carries. The channel is left out when the person may not
        see it, so the row reveals nothing about it."""
        with self.db.begin() as conn:
            self._system.audit.append(
                conn,
                actor=principal.name,
                action="action.rejected",
                platform=PLATFORM,
                channel=self.channels.place(channel, None).name if channel else "",
                summary=summary,
                detail={"refused": True, "reason": reason},
            )

    def visible(self, principal: Principal, stored: msg_store.StoredMessage) -> bool:
        if stored.visible_to is not None and stored.visible_to != principal.name:
            return False
        return self.channels.may_see(principal, stored.channel)

    def _spawn(self, event: MessageEvent | ActionEvent) -> None:
        if self.handler is None:
            raise WebChatError("opsroom is starting; try again in a moment", 503)
        task: asyncio.Task[None] = asyncio.ensure_future(self.handler(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- rendering -------------------------------------------------------------------------------
    def event(
        self,
        stored: msg_store.StoredMessage,
        kind: str = "message",
        *,
        replies: int = 0,
        parent_replies: int | None = None,
    ) -> dict[str, Any]:
        """What a browser gets for a message: its id, thread and server-rendered HTML; for a
        reply, how many replies its parent now has (the channel view shows the count)."""
        out: dict[str, Any] = {
            "type": kind,
            "id": stored.id,
            "channel": stored.channel,
            "thread": stored.thread,
            "sender": stored.sender,
            "version": stored.version,
            "html": str(self.html(stored, replies=replies)),
        }
        if parent_replies is not None:
            out["parent_replies"] = parent_replies
        return out

    def html(self, stored: msg_store.StoredMessage, *, replies: int = 0) -> str:
        from urllib.parse import quote

        from markupsafe import escape

        users = self.user_names()
        if stored.is_bot and stored.body is not None:
            message = codec.decode(stored.body)
            body = message_html(message, message_id=stored.id, is_user=users.__contains__)
            tone: str = message.tone
        else:
            body = user_text_html(stored.text, users.__contains__) + also_sent_html(stored)
            tone = "person"
        who = "opsroom" if stored.is_bot else stored.sender
        classes = (
            f"msg tone-{tone}"
            + (" bot" if stored.is_bot else "")
            + (" reply" if stored.thread else "")
            + (" ephemeral" if stored.visible_to else "")
        )
        stamp = stored.created_at.strftime("%H:%M")
        edited = ' <span class="edited">(edited)</span>' if stored.edited_at else ""
        only = ' <span class="only-you">only you can see this</span>' if stored.visible_to else ""
        thread = f' data-thread="{stored.thread}"' if stored.thread else ""
        sent = (stored.body or {}).get(ALSO_SENT) if not stored.is_bot else None
        # A channel copy of a thread reply answers in (and links to) that thread.
        root = sent["thread"] if isinstance(sent, dict) and isinstance(sent.get("thread"), int) else None
        root = root or stored.thread or stored.id
        # A permalink opens the channel with this message's thread (or the message) in view.
        link = f"/chat/{quote(stored.channel, safe='')}?thread={root}#m{stored.id}"
        count = (
            ""
            if stored.thread
            else (
                f'<button type="button" class="replies link" data-open-thread="{stored.id}" data-count="{replies}"'
                f"{'' if replies else ' hidden'}>{replies} repl{'y' if replies == 1 else 'ies'}</button>"
            )
        )
        return (
            f'<article class="{classes}" id="m{stored.id}" data-id="{stored.id}"{thread}>'
            f'<header><span class="who">{escape(who)}</span> '
            f'<a class="permalink" href="{escape(link)}" title="link to this message">'
            f'<time datetime="{stored.created_at.isoformat()}">{stamp}</time></a>{edited}{only}'
            f'<button type="button" class="reply-link" data-reply="{root}" '
            f'title="reply in thread" aria-label="reply in thread">↩</button></header>'
            f'<div class="body">{body}</div>{count}</article>'
        )

    def _announce(self, conn: Any, kind: str, message_id: int, channel: str = "") -> None:
        if self.announce is not None:
            self.announce(conn, kind, message_id, channel)

    async def _publish(self, stored: msg_store.StoredMessage, kind: str) -> None:
        self.relay(stored, kind)
        if self.on_published is not None:
            result = self.on_published(stored)
            if result is not None:
                await result

    def forget_channels(self) -> None:
        """Another replica created or archived a channel: read the list again when next needed."""
        self._channels = None

    def relay(self, stored: msg_store.StoredMessage, kind: str) -> None:
        """Show a stored message to this process's open sockets (also for a message another
        replica stored: cluster/fanout.py)."""
        parent_replies: int | None = None
        replies = 0
        if stored.thread is not None and kind == "message" and stored.visible_to is None:
            with self.db.read() as conn:
                parent_replies = msg_store.reply_count(conn, stored.thread)
        elif stored.thread is None and kind == "edit":
            with self.db.read() as conn:  # an edited parent keeps showing its reply count
                replies = msg_store.reply_count(conn, stored.id)
        self.hub.publish(
            stored.channel,
            self.event(stored, kind, replies=replies, parent_replies=parent_replies),
            only=stored.visible_to,
        )


ALSO_SENT = "also_sent"  # a person's channel copy of a thread reply: {"thread", "reply"}


def also_sent_html(stored: msg_store.StoredMessage) -> Markup:
    """The mark under a channel copy of a thread reply: "replied to a thread" → the reply."""
    from urllib.parse import quote

    sent = (stored.body or {}).get(ALSO_SENT) if not stored.is_bot else None
    if not isinstance(sent, dict) or not isinstance(sent.get("thread"), int) or not isinstance(sent.get("reply"), int):
        return Markup("")
    link = f"/chat/{quote(stored.channel, safe='')}?thread={sent['thread']}#m{sent['reply']}"
    return Markup(  # noqa: S704 - ids are ints, the channel is quoted
        f'<div class="also-sent">replied to a thread: <a href="{link}" data-open-thread="{sent["thread"]}">'
        "view the thread</a></div>"
    )


def build_web_adapter(loaded: LoadedConfig) -> WebChatAdapter | None:
    """The adapter factory for the web chat plugin (``opsroom.features``): on unless ``chat.web.enabled``
    is false."""
    if not loaded.config.chat.web.enabled:
        return None
    return WebChatAdapter()


__all__ = ["DM_PREFIX", "WebChatAdapter", "WebChatError", "build_web_adapter"]
