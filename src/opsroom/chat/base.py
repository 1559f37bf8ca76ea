"""The one small protocol every chat platform adapter implements.

Adapters turn platform events into ``MessageEvent``/``ActionEvent`` and hand them to the
engine's handler; the engine answers through ``send``/``update``. No engine code knows which
platform it is talking to: what a platform lacks it declares in ``capabilities`` and the
engine (or the adapter) degrades, e.g. text ``/approve 42`` where there are no buttons.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol, Sequence, runtime_checkable

from opsroom.core import Actions, Code, Context, Fields, Inbound, Message, MessageRef, Place, Section
from opsroom.policy import redaction
from opsroom.policy.redaction import Redactor

InboundHandler = Callable[[Inbound], Awaitable[None]]

STOP_GRACE_SECONDS = 10.0
_log = logging.getLogger(__name__)


def spawn_handler(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None], platform: str) -> asyncio.Task[None]:
    """Hand an inbound event to the engine in a task of its own, kept in ``tasks`` (so
    ``finish_tasks`` can let it finish at stop); a failure is logged, never lost silently."""

    async def guarded() -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("%s: handling an inbound event failed", platform)

    task = asyncio.create_task(guarded())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def finish_tasks(tasks: set[asyncio.Task[None]], grace: float = STOP_GRACE_SECONDS) -> None:
    """At stop, let events already handed to the engine finish (a command being recorded must
    not be cut mid-transaction, nor leave a worker thread holding a database connection);
    cancel only what is still running after ``grace`` seconds."""
    pending = [t for t in tasks if not t.done()]
    if pending:
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


@dataclass(frozen=True)
class Capabilities:
    threads: bool = False
    buttons: bool = False
    edits: bool = False
    ephemeral: bool = False
    images: bool = False
    create_channel: bool = False


@runtime_checkable
class Adapter(Protocol):
    """``name`` is the platform name used in ``Place.platform`` and in user identities."""

    name: str
    capabilities: Capabilities

    async def start(self, handler: InboundHandler) -> None:
        """Begin receiving events (connect sockets, register HTTP routes…); returns once
        started, receiving continues in the background."""

    async def stop(self) -> None: ...

    async def send(self, place: Place, message: Message) -> MessageRef: ...

    async def update(self, ref: MessageRef, message: Message) -> None: ...


@runtime_checkable
class ChannelCreator(Protocol):
    """What an adapter with ``capabilities.create_channel`` implements too: open a channel (an
    incident's war room) with people in it, and archive it when the incident closes. Returns
    the new channel's Place; raises LookupError for people the platform does not know."""

    async def create_channel(self, name: str, *, members: Sequence[str], topic: str, created_by: str) -> Place: ...

    async def archive_channel(self, place: Place) -> None: ...


class ChatHub:
    """All configured adapters, by platform name. The engine, alerts and hooks post through
    it; it falls back to a thread reply where a platform cannot edit."""

    def __init__(self, redactor: Redactor | None = None, *, public_url: str = "") -> None:
        self.adapters: dict[str, Adapter] = {}
        # Whatever is posted or edited goes through it first, whoever built the message.
        self.redactor = redactor
        # server.public_url: where `run #N`, `ticket #N`… link to on the other platforms
        self.public_url = public_url

    def add(self, adapter: Adapter) -> None:
        self.adapters[adapter.name] = adapter

    def get(self, platform: str) -> Adapter:
        try:
            return self.adapters[platform]
        except KeyError:
            raise LookupError(f"no chat adapter named {platform!r} is configured") from None

    def clean(self, message: Message, platform: str = "") -> Message:
        message = redact_message(message, self.redactor or redaction.current())
        if self.public_url and platform not in ("", "web"):  # the web chat links them itself
            from opsroom.chat.web.refs import link_message

            message = link_message(message, self.public_url)
        return message

    async def send(self, place: Place, message: Message) -> MessageRef:
        return await self.get(place.platform).send(place, self.clean(message, place.platform))

    async def update(self, ref: MessageRef, message: Message) -> MessageRef:
        """Edit in place where possible; otherwise reply in the message's thread."""
        adapter = self.get(ref.place.platform)
        message = self.clean(message, ref.place.platform)
        if adapter.capabilities.edits:
            await adapter.update(ref, message)
            return ref
        return await adapter.send(ref.thread_place if adapter.capabilities.threads else ref.place, message)

    async def create_channel(
        self, platform: str, name: str, *, members: Sequence[str], topic: str, created_by: str
    ) -> Place | None:
        """A new channel where the platform can open one; None where it cannot (the caller
        falls back to a thread)."""
        adapter = self.get(platform)
        if not (adapter.capabilities.create_channel and isinstance(adapter, ChannelCreator)):
            return None
        return await adapter.create_channel(name, members=members, topic=topic, created_by=created_by)

    async def archive_channel(self, place: Place) -> bool:
        adapter = self.get(place.platform)
        if not (adapter.capabilities.create_channel and isinstance(adapter, ChannelCreator)):
            return False
        await adapter.archive_channel(place)
        return True

    async def start(self, handler: InboundHandler) -> None:
        for adapter in self.adapters.values():
            await adapter.start(handler)

    async def stop(self) -> None:
        for adapter in self.adapters.values():
            await adapter.stop()


def redact_message(message: Message, redactor: Redactor) -> Message:
    """``message`` with every text in it redacted (its summary, sections, fields, code, context,
    button labels); action ids and URLs of buttons are ours and kept."""
    all_clean = getattr(redactor, "all_clean", None)
    if all_clean is not None and all_clean(_texts(message)):
        return message  # nothing to mask (most messages), found in one look
    blocks: list[Any] = []
    changed = False
    for block in message.blocks:
        new = block
        if isinstance(block, (Section, Code, Context)):
            text = redactor(block.text)
            if text != block.text:
                new = dataclasses.replace(block, text=text)
        elif isinstance(block, Fields):
            items = tuple((redactor(k), redactor(v)) for k, v in block.items)
            if items != block.items:
                new = Fields(items)
        elif isinstance(block, Actions):
            buttons = tuple(_redact_button(b, redactor) for b in block.buttons)
            if any(a is not b for a, b in zip(buttons, block.buttons, strict=True)):
                new = dataclasses.replace(block, buttons=buttons)
        changed = changed or new is not block
        blocks.append(new)
    text = redactor(message.text)
    if not changed and text == message.text:
        return message  # nothing to mask (most messages): no copies
    return dataclasses.replace(message, text=text, blocks=tuple(blocks))


def _texts(message: Message) -> list[str]:
    """Every text ``redact_message`` redacts, in one list (built in a loop rather than a
    generator: every message posted or edited goes through it)."""
    out = [message.text]
    for block in message.blocks:
        if isinstance(block, (Section, Code, Context)):
            out.append(block.text)
        elif isinstance(block, Fields):
            for k, v in block.items:
                out.append(k)
                out.append(v)
        elif isinstance(block, Actions):
            for b in block.buttons:
                out.append(b.label)
                out.append(b.fallback)
    return out


def _redact_button(button: Any, redactor: Redactor) -> Any:
    label, fallback = redactor(button.label), redactor(button.fallback)
    if label == button.label and fallback == button.fallback:
        return button
    return dataclasses.replace(button, label=label, fallback=fallback)
