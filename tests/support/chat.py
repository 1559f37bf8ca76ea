"""A recording chat adapter: what a user would see in a channel, for engine tests."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.core import Message, MessageEvent, MessageRef, Place


@dataclass
class Posted:
    ref: MessageRef
    versions: list[Message] = field(default_factory=list)

    @property
    def last(self) -> Message:
        return self.versions[-1]

    @property
    def text(self) -> str:
        return self.last.as_text()


class RecordingAdapter:
    """Keeps every message posted and every edit, in order."""

    def __init__(
        self,
        name: str = "test",
        *,
        edits: bool = True,
        threads: bool = True,
        buttons: bool = True,
        ephemeral: bool = False,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(threads=threads, buttons=buttons, edits=edits, ephemeral=ephemeral)
        self.posts: list[Posted] = []
        self._by_id: dict[str, Posted] = {}
        self._ids = itertools.count(1)
        self.handler: InboundHandler | None = None
        self.changed = asyncio.Event()

    async def start(self, handler: InboundHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        return None

    async def send(self, place: Place, message: Message) -> MessageRef:
        ref = MessageRef(place, f"m{next(self._ids)}")
        posted = Posted(ref, [message])
        self.posts.append(posted)
        self._by_id[ref.message_id] = posted
        self.changed.set()
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._by_id[ref.message_id].versions.append(message)
        self.changed.set()

    # -- helpers for tests ------------------------------------------------------------------
    def place(self, channel: str = "#ops", thread: str | None = None) -> Place:
        return Place(self.name, channel.lstrip("#"), thread, channel_name=channel)

    async def say(self, user: str, text: str, channel: str = "#ops", **kwargs: object) -> None:
        assert self.handler is not None, "adapter not started"
        await self.handler(MessageEvent(self.place(channel), user, text, **kwargs))  # type: ignore[arg-type]

    def texts(self) -> list[str]:
        return [p.text for p in self.posts]

    def transcript(self) -> str:
        return "\n---\n".join(self.texts())
