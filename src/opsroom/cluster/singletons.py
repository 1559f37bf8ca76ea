"""Chat connections that must be open on one replica only.

Every connection of the bot to Mattermost's WebSocket gets every ``posted`` event, and every
Matrix ``/sync`` gets every room event: with N replicas listening, each message would be read
N times (the delivery table keeps the answer single, but N replicas would race for it and
Matrix's to-device keys would be taken by whichever synced first). So in cluster mode each
such adapter listens only on the replica holding its lease (``chat-mattermost``,
``chat-matrix``), and every replica still posts, edits and answers slash commands and button
clicks over HTTP. When the leader dies, PostgreSQL frees its lock with its connection and the
next replica to try (every ``heartbeat_s``) opens the socket, catching up on what was posted
meanwhile (the Mattermost adapter's reconnect catch-up; Matrix's sync token).

Slack Socket Mode is not here: Slack sends each event to one of the app's connections, so it
stays open on every replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opsroom.cluster.leader import LeaderLease
from opsroom.config.cluster import ClusterConfig
from opsroom.store import Database


class Listener(Protocol):
    name: str
    hold_inbound: bool

    async def listen(self) -> None: ...

    async def unlisten(self) -> None: ...


def singleton_adapters(adapters: dict[str, Any]) -> list[Listener]:
    """The configured adapters whose inbound connection must have one owner."""
    return [a for a in adapters.values() if hasattr(a, "hold_inbound") and hasattr(a, "listen")]


class Singletons:
    """A service: one lease per singleton adapter; listening follows the lease."""

    def __init__(self, config: ClusterConfig, db: Database, adapters: list[Listener]) -> None:
        self.adapters = adapters
        for adapter in adapters:
            adapter.hold_inbound = True  # chat.start leaves the socket closed; the lease opens it
        self.leases = [
            LeaderLease(db, f"chat-{a.name}", retry_s=config.heartbeat_s, on_change=self._follow(a)) for a in adapters
        ]

    @staticmethod
    def _follow(adapter: Listener) -> Callable[[bool], Awaitable[None]]:
        async def follow(held: bool) -> None:
            await (adapter.listen() if held else adapter.unlisten())

        return follow

    async def start(self) -> None:
        await asyncio.gather(*(lease.start() for lease in self.leases))

    async def stop(self) -> None:
        await asyncio.gather(*(lease.stop() for lease in self.leases))
