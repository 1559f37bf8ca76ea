"""What every part of the alert service shares: config, store, chat hub, clock, the lock.

The parts (``ingest``, ``notifier``, ``digests``, ``escalation``, ``actions``,
``silences``, ``overrides``) each receive one ``AlertContext`` and never each other's
internals, so a part can be read on its own. The lock serializes the notifier's tick with
acks and silences: a card is never re-rendered from half-applied state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, ParamSpec, Protocol, Sequence, TypeVar

from sqlalchemy import Connection, select

from opsroom.alerts.budget import ChannelBudget
from opsroom.alerts.open_groups import OpenGroups
from opsroom.alerts.render import Mint
from opsroom.alerts.routing import Router
from opsroom.alerts.tables import alert_silences
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Message, MessageRef, Place, Principal
from opsroom.errors import Refusal
from opsroom.integrations.oncall import OnCall
from opsroom.store import Database
from opsroom.store.types import as_utc

if TYPE_CHECKING:  # httpx (24 modules) waits for a caller that passes a client
    import httpx

UTC = dt.UTC
P = ParamSpec("P")
R = TypeVar("R")
CHUNK = 400  # ids per IN (...) clause


class Hub(Protocol):
    """What we need of ``opsroom.chat.base.ChatHub``."""

    async def send(self, place: Place, message: Message) -> MessageRef: ...

    async def update(self, ref: MessageRef, message: Message) -> MessageRef: ...


class AuditAppend(Protocol):
    def __call__(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        command: str = "",
        platform: str = "",
        channel: str = "",
        run_id: int | None = None,
        summary: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> int: ...


class AlertError(Refusal):
    """A user-facing refusal (unknown group, bad duration…); nothing was changed."""


Mute = tuple[int, dict[str, str], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(matchers) and all(labels.get(k, "") == v for k, v in matchers.items())


class AlertContext:
    def __init__(
        self,
        config: AlertsConfig,
        db: Database,
        hub: Hub,
        *,
        mint: Mint,
        audit_append: AuditAppend,
        oncall: OnCall | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        channels: Mapping[str, Place] | None = None,
        users: Mapping[str, Principal] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.hub = hub
        self.mint = mint
        self.audit_append = audit_append
        self.oncall = oncall
        self.clock = clock
        self.channels = dict(channels or {})
        self.users = dict(users or {})
        self.http = http
        self.router = Router(config.routes, config.default_channel)
        self.budget = ChannelBudget(config.budget.max_messages, config.budget.window)
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self._mutes: list[Mute] | None = None
        self.open_groups = OpenGroups()  # intake's group rows between its transactions
        # Alert bookkeeping that writes much (intake batches, the storm digest) runs on one
        # thread of its own, serialized, so the event loop never waits on it. An in-memory
        # SQLite database is one connection shared by everyone: there it stays on the loop.
        engine = db.engine
        memory = engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
        self.executor = None if memory else ThreadPoolExecutor(1, thread_name_prefix="opsroom-alerts")
        # Decoding webhook bodies touches no store: a thread of its own, so the next body is
        # decoded while the alert thread waits on SQLite (which runs without the GIL).
        self.parse_executor = None if memory else ThreadPoolExecutor(1, thread_name_prefix="opsroom-alert-parse")

    async def settle(self) -> None:
        """Return once the work already handed to the parse and alert threads has finished.
        A task cancelled while it waits on a thread stops waiting, but the thread finishes
        the call: after ``AlertService.stop`` nothing of ours may still be reading or writing
        (a dropped schema or a closed database meanwhile deadlocked with such a read). Each
        thread runs its calls in order, so a no-op behind them ends after them; the parse
        thread first, as it hands decoded batches on to the alert thread."""
        loop = asyncio.get_running_loop()
        for executor in (self.parse_executor, self.executor):
            if executor is not None:
                await loop.run_in_executor(executor, _nothing)

    async def offload(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args)`` on the alert thread (or inline when there is none)."""
        if self.executor is None:
            return fn(*args, **kwargs)
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def offload_parse(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args)`` on the parse thread (or inline when there is none): pure work on a
        request body, off the event loop and beside the alert thread's store work."""
        if self.parse_executor is None:
            return fn(*args, **kwargs)
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.parse_executor, call)

    # ------------------------------------------------------------------ places & people
    def place_for(self, channel_name: str) -> Place:
        place = self.channels.get(channel_name)
        if place is not None:
            return place
        return Place(self.config.platform, channel=channel_name, channel_name=channel_name)

    def principal(self, name: str) -> Principal:
        return self.users.get(name) or Principal(name=name)

    def mentions_for(self, targets: Iterable[str], now: dt.datetime) -> list[Principal]:
        names: list[str] = []
        for target in targets:
            resolved = (
                self.oncall.resolve(target, now) if self.oncall else ([] if target.startswith("oncall:") else [target])
            )
            names.extend(n for n in resolved if n not in names)
        return [self.principal(n) for n in names]

    def ref(self, group: Any) -> MessageRef:
        """Where a group's card was posted."""
        place = Place(group.platform, group.channel, thread=group.thread, channel_name=group.channel_name)
        return MessageRef(place, group.message_id)

    def is_scheduled(self, group: Any) -> bool:
        """Held for the scheduled digest rather than posted on its own."""
        route = self.router.by_name(group.route)
        return route.scheduled_digest or group.severity in self.config.digest.severities

    def audit(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        summary: str,
        channel: str = "",
        platform: str = "",
        detail: Mapping[str, Any] | None = None,
        command: str = "",
    ) -> None:
        self.audit_append(
            conn,
            actor=actor,
            action=action,
            command=command,
            platform=platform,
            channel=channel,
            summary=summary,
            detail=dict(detail or {}),
        )

    # ------------------------------------------------------------------ mutes (opsroom-side silences)
    def active_mutes(self, conn: Connection, now: dt.datetime) -> list[Mute]:
        """Cached: read once, dropped by ``forget_mutes`` whenever a silence is added or lifted."""
        if self._mutes is None:
            rows = conn.execute(
                select(alert_silences.c.id, alert_silences.c.matchers, alert_silences.c.ends_at).where(
                    alert_silences.c.ends_at > now, alert_silences.c.cancelled_at.is_(None)
                )
            ).all()
            self._mutes = [(r.id, dict(r.matchers or {}), as_utc(r.ends_at) or now) for r in rows]
        return [m for m in self._mutes if m[2] > now]

    def forget_mutes(self) -> None:
        self._mutes = None


def _nothing() -> None:
    """A call that does nothing (``AlertContext.settle``'s marker)."""
