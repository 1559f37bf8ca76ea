"""Who is asking. Every decision is about the human who typed, never the bot account."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Principal:
    """An opsroom user.

    ``identities`` maps a platform name (``slack``, ``mattermost``, ``web``, ``shell``,
    ``email``…) to the user's id there.
    """

    name: str
    roles: frozenset[str] = frozenset()
    display_name: str = ""
    groups: frozenset[str] = frozenset()
    identities: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    known: bool = True  # False for a sender we could not map to a configured user

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @staticmethod
    def anonymous(platform: str, sender_id: str) -> Principal:
        """A sender no configured user matches: gets only what policy grants everyone."""
        return Principal(
            name=f"{platform}:{sender_id}",
            identities=MappingProxyType({platform: sender_id}),
            known=False,
        )
