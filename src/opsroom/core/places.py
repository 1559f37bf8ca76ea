"""Where a message lives."""

from __future__ import annotations

from dataclasses import dataclass

from opsroom.core.quickinit import quick_init


@quick_init  # adapters build one per inbound event (core/quickinit.py)
@dataclass(frozen=True)
class Place:
    """A channel (or DM) on one platform, optionally a thread inside it.

    ``channel`` is the platform's own channel id (Slack ``C…``, Mattermost id, Matrix room id,
    web chat ``ops``); ``channel_name`` is the human name used in config and policy (``#ops``).
    """

    platform: str
    channel: str
    thread: str | None = None
    is_direct: bool = False
    channel_name: str = ""

    @property
    def name(self) -> str:
        """The name policies and config use: ``#ops``, or ``dm`` for direct messages."""
        if self.is_direct:
            return "dm"
        return self.channel_name or self.channel

    @property
    def spoken(self) -> str:
        """Where, in the words people use: ``#ops`` in the built-in web chat, ``#ops on Slack``
        elsewhere, ``a direct message`` for a DM — never a platform's channel id."""
        if self.is_direct:
            return "a direct message" if self.platform == "web" else f"a direct message on {self.platform.capitalize()}"
        where = self.channel_name or "a channel"
        return where if self.platform == "web" else f"{where} on {self.platform.capitalize()}"

    def in_thread(self, thread: str | None) -> Place:
        return Place(self.platform, self.channel, thread, self.is_direct, self.channel_name)


@quick_init  # every message posted (core/quickinit.py)
@dataclass(frozen=True)
class MessageRef:
    """A posted message, so it can be edited in place or replied to in its thread."""

    place: Place
    message_id: str

    @property
    def thread_place(self) -> Place:
        """Where replies in this message's thread go."""
        return self.place.in_thread(self.place.thread or self.message_id)
