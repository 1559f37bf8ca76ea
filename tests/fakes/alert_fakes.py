"""Small fakes for alert tests: a recording chat hub, a fake clock, a fake audit log."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from opsroom.core import Message, MessageRef, Place


@dataclass
class Posted:
    place: Place
    message: Message
    ref: MessageRef
    edits: list[Message] = field(default_factory=list)

    @property
    def current(self) -> Message:
        return self.edits[-1] if self.edits else self.message


class RecordingHub:
    """Implements ChatHub's send/update; remembers every post and edit."""

    def __init__(self) -> None:
        self.posts: list[Posted] = []
        self._ids = itertools.count(1)
        self.fail = False

    async def send(self, place: Place, message: Message) -> MessageRef:
        if self.fail:
            raise RuntimeError("chat is down")
        ref = MessageRef(place, f"m{next(self._ids)}")
        self.posts.append(Posted(place, message, ref))
        return ref

    async def update(self, ref: MessageRef, message: Message) -> MessageRef:
        if self.fail:
            raise RuntimeError("chat is down")
        for post in self.posts:
            if post.ref.message_id == ref.message_id:
                post.edits.append(message)
                return ref
        raise LookupError(ref.message_id)

    def top_level(self, channel: str | None = None) -> list[Posted]:
        return [
            p
            for p in self.posts
            if p.place.thread is None and not p.place.is_direct and (channel is None or p.place.channel_name == channel)
        ]

    def thread(self, ref: MessageRef) -> list[Posted]:
        return [p for p in self.posts if p.place.thread == ref.message_id]


class FakeClock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(
        self,
        conn: Any,
        *,
        actor: str,
        action: str,
        command: str = "",
        platform: str = "",
        channel: str = "",
        run_id: int | None = None,
        summary: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        assert conn is not None  # always inside the caller's transaction
        self.entries.append(
            {
                "actor": actor,
                "action": action,
                "channel": channel,
                "summary": summary,
                "detail": dict(detail or {}),
            }
        )

    def actions(self) -> list[str]:
        return [e["action"] for e in self.entries]


def fake_mint(kind: str, payload: Mapping[str, Any]) -> str:
    return f"{kind}|{json.dumps(dict(payload), sort_keys=True)}"


def unmint(action_id: str) -> tuple[str, dict[str, Any]]:
    kind, _, payload = action_id.partition("|")
    return kind, json.loads(payload)
