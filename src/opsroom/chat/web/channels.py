"""Who may see which web chat channel.

Channels come from ``channels:`` in opsroom.yaml (those with ``platform: web``, the default).
``members`` lists user names and ``role:NAME`` entries; an empty list means everyone.
Each user also has a direct conversation with the bot, ``dm:<user>``, that only they see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from opsroom.config.models import ChannelConfig
from opsroom.core import Place, Principal

PLATFORM = "web"
DM_PREFIX = "dm:"


@dataclass(frozen=True)
class WebChannel:
    id: str  # "ops" — used in URLs and Place.channel
    name: str  # "#ops" — used in policy and audit
    description: str
    members: tuple[str, ...]

    def admits(self, principal: Principal) -> bool:
        if not self.members:
            return principal.known
        return principal.name in self.members or any(
            m.startswith("role:") and m[5:] in principal.roles for m in self.members
        )


def channel_id(config: ChannelConfig) -> str:
    return config.id or config.name.lstrip("#")


class Channels:
    def __init__(self, configs: Iterable[ChannelConfig], created: Iterable[WebChannel] = ()) -> None:
        """``created``: channels opened at run time (war rooms), kept in ``webchat_channels``."""
        self._by_id: dict[str, WebChannel] = {c.id: c for c in created}
        for c in configs:
            if c.platform != PLATFORM:
                continue
            cid = channel_id(c)
            self._by_id[cid] = WebChannel(
                cid, c.name if c.name.startswith("#") else "#" + c.name, c.description, tuple(c.members)
            )

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def get(self, cid: str) -> WebChannel | None:
        return self._by_id.get(cid)

    def visible(self, principal: Principal) -> list[WebChannel]:
        return [c for c in self._by_id.values() if c.admits(principal)]

    def may_see(self, principal: Principal, cid: str) -> bool:
        """A configured channel the user belongs to, or their own DM with the bot."""
        if cid.startswith(DM_PREFIX):
            return principal.known and cid == dm_id(principal.name)
        found = self._by_id.get(cid)
        return found is not None and found.admits(principal)

    def place(self, cid: str, thread: str | None = None) -> Place:
        if cid.startswith(DM_PREFIX):
            return Place(PLATFORM, cid, thread, is_direct=True)
        found = self._by_id.get(cid)
        return Place(PLATFORM, cid, thread, channel_name=found.name if found else "#" + cid)

    def name_of(self, cid: str) -> str:
        if cid.startswith(DM_PREFIX):
            return "dm"
        found = self._by_id.get(cid)
        return found.name if found else "#" + cid


def dm_id(user: str) -> str:
    return DM_PREFIX + user
