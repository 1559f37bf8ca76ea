"""Who is who: maps a platform sender to an opsroom Principal, from the ``users:`` config.

Built once per config load (and on reload) so the lookup on the hot path is a dict access.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from opsroom.config.models import UserConfig
from opsroom.core import Principal

# Platforms whose sender id is the opsroom user name itself (we authenticate them ourselves).
NATIVE_PLATFORMS = frozenset({"shell", "web", "api"})


class Directory:
    def __init__(self, users: Mapping[str, UserConfig], group_roles: Mapping[str, list[str]] | None = None) -> None:
        self._by_name: dict[str, Principal] = {}
        self._by_identity: dict[tuple[str, str], Principal] = {}
        self._by_email: dict[str, Principal] = {}
        group_roles = group_roles or {}
        for name, user in users.items():
            roles = set(user.roles)
            for group in user.groups:
                roles.update(group_roles.get(group, ()))
            principal = Principal(
                name=name,
                roles=frozenset(roles),
                display_name=user.display_name or name,
                groups=frozenset(user.groups),
                identities=MappingProxyType(dict(user.identities)),
            )
            self._by_name[name] = principal
            for platform, ident in user.identities.items():
                self._by_identity[(platform, ident)] = principal
                if platform == "email":
                    self._by_email[ident.lower()] = principal

    def get(self, name: str) -> Principal | None:
        return self._by_name.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    def resolve(self, platform: str, sender_id: str, email: str = "") -> Principal:
        """The configured user behind a platform sender, else an unknown principal that
        gets only what policy grants everyone."""
        found = self._by_identity.get((platform, sender_id))
        if found is None and platform in NATIVE_PLATFORMS:
            found = self._by_name.get(sender_id)
        if found is None and email:
            found = self._by_email.get(email.lower())
        return found or Principal.anonymous(platform, sender_id)
