"""Matrix adapter on matrix-nio (with vodozemac for end-to-end encryption).

- Logs in with an access token, or with a password once: the device it gets is kept in the
  store folder so restarts stay the same device with the same keys.
- A long-poll ``/sync`` loop of our own (not ``sync_forever``) so the sync token is saved only
  after the engine took every event of a batch: no replay, no gap across restarts. The first
  sync of a brand-new store skips everything older than the start (history is never run as
  commands); events older than ``CATCH_UP_SECONDS`` are ignored too, and so are the bot's own.
- Joins the configured rooms; accepts an invite only to one of them or from a user of an
  allowed homeserver.
- Replies in ``m.thread`` threads (with the reply fallback), progress as ``m.replace`` edits
  (coalesced by the outbox), approvers pinged with pills plus ``m.mentions``.
- No buttons in Matrix: a message's buttons are remembered (event id → signed action) and a
  reaction with a configured emoji presses one, as an ``ActionEvent`` that the engine
  authorizes and audits like any click; typing the fallback (``!approve 42``) works too.
- Encrypted rooms: the room key goes to devices allowed by ``trust`` (directory users only,
  by default); everything else is blacklisted so it never receives a key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from opsroom.chat.base import Capabilities, InboundHandler, spawn_handler
from opsroom.chat.base import finish_tasks as _finish
from opsroom.chat.matrix_render import render, typed_command
from opsroom.chat.matrix_state import MatrixState
from opsroom.chat.pacing import Outbox
from opsroom.config.chat import MatrixConfig
from opsroom.core import ActionEvent, Actions, Inbound, Message, MessageEvent, MessageRef, OpsroomError, Place

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 600.0  # commands older than this when first seen are not run
RETRY_SECONDS = 2.0
_VARIATION = re.compile("[\ufe0e\ufe0f]")
TYPED = "typed:"  # a remembered button pressed by typing only (it asks a question)


class MatrixError(OpsroomError):
    """The homeserver refused a request; the message is the server's own."""


def _server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


class MatrixAdapter:
    name = "matrix"
    capabilities = Capabilities(threads=True, buttons=False, edits=True)

    def __init__(self, config: MatrixConfig, *, store: Path, known_users: set[str]) -> None:
        """``store`` holds device keys and state; ``known_users`` are the Matrix ids of the
        directory (users: … identities: matrix), whose devices ``trust: directory`` trusts."""
        from nio import AsyncClient, AsyncClientConfig

        self.config = config
        self.store = store
        self.known_users = known_users
        self.state = MatrixState(store)
        self.client = AsyncClient(
            config.homeserver.rstrip("/"),
            config.user_id,
            device_id=config.device_id or self.state.get("device_id") or None,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=config.encryption, store_sync_tokens=False),
        )
        self.outbox = Outbox(0.0)
        self.emoji_for: dict[str, str] = {}
        for emoji, label in config.reactions.items():
            self.emoji_for.setdefault(label.lower(), emoji)
        self.synced = asyncio.Event()
        self._handler: InboundHandler | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started_ms = 0
        # Cluster mode: only the replica holding the leader lease syncs (cluster/singletons.py).
        self.hold_inbound = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, handler: InboundHandler) -> None:
        await self._login()
        self._handler = handler
        self._started_ms = int(time.time() * 1000)
        for room in self.config.rooms:
            resp = await self.client.join(room)
            if not hasattr(resp, "room_id"):
                log.warning("matrix: could not join %s: %s", room, getattr(resp, "message", resp))
        if not self.hold_inbound:
            await self.listen()
        log.info("matrix adapter started as %s (device %s)", self.client.user_id, self.client.device_id)

    async def listen(self) -> None:
        """Run the sync loop (at start; in cluster mode when this replica leads)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._sync_loop(), name="matrix-sync")

    async def unlisten(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.synced.clear()

    async def stop(self) -> None:
        await self.unlisten()  # no new events first
        await _finish(self._tasks)
        self._handler = None
        await self.client.close()
        self.state.close()

    async def _login(self) -> None:
        from nio import LoginResponse

        token = self.config.access_token or self.state.get("access_token")
        device = self.config.device_id or self.state.get("device_id")
        if token and device:
            self.client.restore_login(self.config.user_id, device, token)
            return
        if self.config.access_token:  # a token without a device: ask the server whose it is
            self.client.access_token = self.config.access_token
            who = await self.client.whoami()
            if not getattr(who, "device_id", None):
                raise MatrixError(f"matrix: the access token was refused: {getattr(who, 'message', who)}")
            self.client.restore_login(self.config.user_id, who.device_id, self.config.access_token)
            return
        resp = await self.client.login(self.config.password, device_name=self.config.device_name)
        if not isinstance(resp, LoginResponse):
            raise MatrixError(f"matrix: login as {self.config.user_id} failed: {getattr(resp, 'message', resp)}")
        self.state.put("device_id", resp.device_id)
        self.state.put("access_token", resp.access_token)

    # -- the sync loop -----------------------------------------------------------------

    async def _sync_loop(self) -> None:
        from nio import SyncResponse

        since = self.state.get("sync_token") or None
        catching_up = since is None
        timeout_ms = int(self.config.sync_timeout_seconds * 1000)
        while True:
            try:
                await self._keys()
                resp = await self.client.sync(
                    timeout=0 if catching_up else timeout_ms, since=since, full_state=catching_up
                )
                if not isinstance(resp, SyncResponse):
                    raise MatrixError(getattr(resp, "message", str(resp)))
                await self._on_sync(resp, catching_up)
                since = resp.next_batch
                self.state.put("sync_token", since)
                catching_up = False
                self.synced.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network or server trouble: try again, same token
                log.warning("matrix: sync failed (%s); retrying in %.0fs", exc, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _keys(self) -> None:
        if not self.config.encryption:
            return
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())

    async def _on_sync(self, resp: Any, catching_up: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info)
        for room_id, info in resp.rooms.join.items():
            for event in info.timeline.events:
                await self._on_event(room_id, event, catching_up)

    async def _on_invite(self, room_id: str, info: Any) -> None:
        inviter = next(
            (
                e.sender
                for e in info.invite_state
                if getattr(e, "state_key", None) == self.client.user_id and getattr(e, "membership", "") == "invite"
            ),
            "",
        )
        room = self.client.rooms.get(room_id)
        aliases = {room_id, *(getattr(room, "canonical_alias", None) or "",)} if room else {room_id}
        allowed = bool(aliases & set(self.config.rooms)) or _server_of(inviter) in self.config.invites_from_servers
        if not allowed:
            log.info("matrix: ignoring an invite to %s from %s (not an allowed room or server)", room_id, inviter)
            return
        await self.client.join(room_id)

    async def _on_event(self, room_id: str, event: Any, catching_up: bool = False) -> None:
        from nio import ReactionEvent, RoomMessageText

        source: dict[str, Any] = getattr(event, "source", None) or {}
        sender = str(source.get("sender", ""))
        if not sender or sender == self.client.user_id:
            return
        age_ms = self._started_ms - int(source.get("origin_server_ts", 0))
        # With no sync token yet (a new store), the room history is not ours to run: only what
        # was sent since this start. With a token, what came while we were down is run too.
        if age_ms > (0 if catching_up else CATCH_UP_SECONDS * 1000):
            return
        content: dict[str, Any] = source.get("content") or {}
        relates: dict[str, Any] = content.get("m.relates_to") or {}
        if isinstance(event, ReactionEvent):
            await self._on_reaction(room_id, sender, str(event.event_id), event.reacts_to, event.key)
        elif source.get("type") == "m.reaction":  # e.g. a decrypted reaction nio does not type
            await self._on_reaction(
                room_id,
                sender,
                str(source.get("event_id", "")),
                str(relates.get("event_id", "")),
                str(relates.get("key", "")),
            )
        elif isinstance(event, RoomMessageText) and relates.get("rel_type") != "m.replace":
            self._on_text(room_id, sender, str(event.event_id), event.body, content, relates)

    def _place(self, room_id: str, thread: str | None) -> Place:
        room = self.client.rooms.get(room_id)
        direct = bool(room and room.member_count <= 2 and not self.config.channel_names.get(room_id))
        name = self.config.channel_names.get(room_id, "")
        if not name and room and room.name:
            name = "#" + room.name.lstrip("#")
        return Place("matrix", room_id, thread, direct, "" if direct else name)

    def _on_text(
        self, room_id: str, sender: str, event_id: str, body: str, content: dict[str, Any], relates: dict[str, Any]
    ) -> None:
        thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        place = self._place(room_id, thread)
        if thread:  # drop the reply fallback ("> <@x> ...") some clients still prepend
            body = "\n".join(line for line in body.splitlines() if not line.startswith("> ")).strip()
        mentioned = self.client.user_id in ((content.get("m.mentions") or {}).get("user_ids") or [])
        localpart = self.client.user_id.split(":", 1)[0].lstrip("@")
        lead = re.match(
            rf"\s*@?{re.escape(localpart)}(?::{re.escape(_server_of(self.client.user_id))})?[:,]?\s+",
            body,
            re.IGNORECASE,
        )
        if lead:
            body, mentioned = body[lead.end() :], True
        self._spawn(
            self._emit(
                MessageEvent(
                    place=place,
                    sender_id=sender,
                    text=body.strip(),
                    message_id=event_id,
                    addressed=mentioned or place.is_direct,
                    event_id=f"matrix:{event_id}",
                    sender_name=sender.split(":", 1)[0].lstrip("@"),
                )
            )
        )

    async def _on_reaction(self, room_id: str, sender: str, event_id: str, target: str, key: str) -> None:
        label = self.config.reactions.get(key) or self.config.reactions.get(_VARIATION.sub("", key))
        saved = self.state.button(target, label) if (label and target) else None
        if saved is None or saved.room_id != room_id:
            return
        place = self._place(room_id, saved.thread)
        if saved.action_id.startswith(TYPED):
            typed = saved.action_id[len(TYPED) :]
            answer = Message.plain(f"To {(label or '').lower()}, type `{typed}`: a reaction cannot say why.", "info")
            self._spawn(self._answer(place, answer))
            return
        self._spawn(
            self._emit(
                ActionEvent(
                    place=place,
                    sender_id=sender,
                    action_id=saved.action_id,
                    message=MessageRef(place, target),
                    event_id=f"matrix:{event_id}",
                    sender_name=sender.split(":", 1)[0].lstrip("@"),
                )
            )
        )

    # -- handing on --------------------------------------------------------------------

    async def _answer(self, place: Place, message: Message) -> None:
        await self.send(place, message)

    async def _emit(self, event: Inbound) -> None:
        handler = self._handler
        if handler is not None:
            await handler(event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        spawn_handler(self._tasks, coro, "matrix")

    # -- outbound ----------------------------------------------------------------------

    def _content(self, message: Message) -> dict[str, Any]:
        mentions = [(uid, p.name) for p in message.mentions if (uid := p.identities.get("matrix", ""))]
        return render(message, mentions, self.emoji_for)

    async def _trust_devices(self, room_id: str) -> None:
        """Decide, before each encrypted send, which devices of the room's members get keys."""
        room = self.client.rooms.get(room_id)
        if not (room and room.encrypted) or self.config.trust == "all":
            return
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        for user in room.users:
            for device in self.client.device_store.active_user_devices(user):
                if user in self.known_users or user == self.client.user_id:
                    if not device.verified:
                        self.client.verify_device(device)
                elif not device.blacklisted:
                    self.client.blacklist_device(device)

    async def _send(self, room_id: str, content: dict[str, Any]) -> str:
        from nio import RoomSendResponse

        await self._trust_devices(room_id)
        resp = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=self.config.trust == "all"
        )
        if not isinstance(resp, RoomSendResponse):
            raise MatrixError(f"matrix: sending to {room_id} failed: {getattr(resp, 'message', resp)}")
        return str(resp.event_id)

    def _remember(self, event_id: str, place: Place, message: Message) -> None:
        # A button that asks a question (a Deny's "why?") cannot be pressed by a reaction,
        # which carries no answer: its reaction is answered with the command to type.
        buttons = {
            b.label.lower(): (TYPED + typed_command(b) if b.asks and b.fallback else b.action_id)
            for block in message.blocks
            if isinstance(block, Actions)
            for b in block.buttons
            if b.action_id and not b.url
        }
        self.state.remember_buttons(event_id, place.channel, place.thread, buttons)

    async def send(self, place: Place, message: Message) -> MessageRef:
        content = self._content(message)
        if place.thread:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": place.thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": place.thread},
            }
        event_id = await self.outbox.post(place.channel, lambda: self._send(place.channel, content))
        self._remember(event_id, place, message)
        return MessageRef(place, event_id)

    async def update(self, ref: MessageRef, message: Message) -> None:
        async def replace(latest: Message) -> None:
            new = self._content(latest)
            content = {
                **{k: v for k, v in new.items() if k != "m.mentions"},
                "body": "* " + new["body"],
                "m.new_content": new,
                "m.relates_to": {"rel_type": "m.replace", "event_id": ref.message_id},
            }
            await self._send(ref.place.channel, content)
            self._remember(ref.message_id, ref.place, latest)

        await self.outbox.edit(ref.place.channel, ref.message_id, message, replace)


def build_matrix_adapter(loaded: Any, *, state_dir: Path) -> MatrixAdapter | None:
    """Adapter factory (``loaded`` is a LoadedConfig); ``state_dir`` is opsroom's data folder."""
    config = loaded.config.chat.matrix
    if config is None or not config.enabled:
        return None
    store = Path(config.store_path) if config.store_path else state_dir / "matrix"
    if not store.is_absolute():
        store = loaded.base_dir / store
    known = {u.identities["matrix"] for u in loaded.config.users.values() if u.identities.get("matrix")}
    return MatrixAdapter(config, store=store, known_users=known)
