"""People on the test Synapse, driven with matrix-nio the way a Matrix client would: a
background sync (which also uploads, queries and claims encryption keys) collecting every
event it sees, decrypted where it can."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, Event, LoginResponse, RoomCreateResponse, RoomSendResponse

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account on a test server


class Person:
    def __init__(self, homeserver: str, user_id: str, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.user_id = user_id
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
        )
        self.events: list[dict[str, Any]] = []  # (room id added) every timeline event seen
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        resp = await self.client.login(PASSWORD, device_name="test-client")
        assert isinstance(resp, LoginResponse), resp

        async def collect(room: Any, event: Any) -> None:
            self.events.append(
                {**event.source, "room_id": room.room_id, "decrypted": bool(getattr(event, "decrypted", False))}
            )

        self.client.add_event_callback(collect, Event)
        self._task = asyncio.create_task(self.client.sync_forever(timeout=1000, full_state=True))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()

    async def create_room(self, invite: list[str], *, name: str = "ops", encrypted: bool = False) -> str:
        state = (
            [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
            if encrypted
            else []
        )
        resp = await self.client.room_create(name=name, invite=invite, initial_state=state)
        assert isinstance(resp, RoomCreateResponse), resp
        return str(resp.room_id)

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)

    async def say(self, room_id: str, text: str, *, thread: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread},
            }
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        resp = await self.client.room_send(room_id, "m.reaction", content)
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], *, room_id: str, timeout: float = 90.0
    ) -> dict[str, Any]:
        """The first event in ``room_id`` that ``match`` accepts. The room is required: a
        person's first sync brings back the rooms of earlier tests too (the same users on the
        same Synapse), whose old events would otherwise match."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if e["room_id"] == room_id and match(e)), None)
            if found is not None:
                return found
            assert time.monotonic() < deadline, f"{self.user_id} never saw the event; saw {self.events[-5:]}"
            await asyncio.sleep(0.05)


def body_of(event: dict[str, Any]) -> str:
    """The text a client would show: an edit's new content, else the body."""
    content = event.get("content") or {}
    return str((content.get("m.new_content") or content).get("body", ""))


def relation(event: dict[str, Any]) -> tuple[str, str]:
    rel = (event.get("content") or {}).get("m.relates_to") or {}
    return str(rel.get("rel_type", "")), str(rel.get("event_id", ""))
