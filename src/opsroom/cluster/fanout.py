"""Web chat across replicas: a browser's WebSocket is pinned to one replica, so a message
stored by another replica must reach it. PostgreSQL ``LISTEN/NOTIFY`` carries only the
message's id and channel (``pg_notify`` inside the transaction that stores it, so a
notification is sent if and only if the message is committed); a replica with a socket on
that channel re-reads the message from the database and shows it there (the others skip
it), rendering the current row (an edit shows its latest text, never an older event's).

A replica whose listening connection drops catches up by sequence when it reconnects: every
message with an id above the last one it saw, and every edit made since the drop. Browsers
catch up the same way on their side (``/chat/{channel}/history?after=ID``, chat.js).

The same listening connection carries **cancels**: a Cancel clicked on one replica for a run
another replica is running is sent as ``run id|replica|who`` on a second channel, and the
replica running it stops it (``RunService.cancel``), so the lock is freed only when the run
has really ended. Nothing else than that replica ever ends a running run, except the leader's
sweep once the replica is dead.

Notifications are per database, not per schema: the channel name carries a hash of the
schema, so two opsroom installs in one database never see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import zlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import func, or_, select, text

from opsroom.chat.web import store as msg_store
from opsroom.chat.web.tables import webchat_messages as t
from opsroom.cluster.identity import REPLICA_ID
from opsroom.store import Database

log = structlog.get_logger("opsroom.cluster")

ORIGIN = secrets.token_hex(4)  # this process, so it skips its own notifications
KINDS = ("message", "edit", "rooms")
CATCH_UP_LIMIT = 1000
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def channel_name(schema: str, what: str = "chat") -> str:
    return f"opsroom_{what}_{zlib.crc32(schema.encode()):08x}"


def conninfo(db: Database) -> str:
    """The database URL as psycopg takes it (its search_path options included)."""
    url = db.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class ChatFanout:
    """The cluster plugin's service: ``announce`` is the web chat adapter's hook (called in
    the write transaction), the listener relays other replicas' messages to this one's hub."""

    def __init__(
        self, db: Database, adapter: Any, *, host: Callable[[], Any] = lambda: None, retry_s: float = 1.0
    ) -> None:
        self.db = db
        self.adapter = adapter  # the web chat adapter, or None without web chat
        self.host = host  # the engine: its runs are cancelled from other replicas
        self.retry_s = retry_s
        self.channel = ""
        self.cancel_channel = ""
        self.last_id = 0
        self.relayed = 0  # messages and edits from other replicas shown here (tests, metrics)
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- sending: in the writer's transaction ---------------------------------------------------
    def announce(self, conn: Any, kind: str, message_id: int, channel: str = "") -> None:
        payload = f"{ORIGIN}|{kind}|{message_id}|{channel}"
        conn.execute(_NOTIFY, {"channel": self.channel, "payload": payload})
        self.last_id = max(self.last_id, message_id)

    def cancel_elsewhere(self, run: Any, by: str) -> bool:
        """Ask the replica running ``run`` to cancel it (Engine.cancel_elsewhere). False when
        this process runs it (or nobody is recorded as running it)."""
        owner = run.extra.get("replica")
        if not owner or owner == REPLICA_ID:
            return False
        with self.db.begin() as conn:
            conn.execute(_NOTIFY, {"channel": self.cancel_channel, "payload": f"{run.id}|{owner}|{by}"})
        return True

    def cancelled(self, payload: str) -> None:
        raw_id, owner, by = (payload.split("|", 2) + ["", "", ""])[:3]
        engine = self.host()
        if owner == REPLICA_ID and raw_id.isdigit() and engine is not None:
            engine.runs.cancel(int(raw_id), by)

    # -- the service ---------------------------------------------------------------------------
    async def start(self) -> None:
        with self.db.read() as conn:
            schema = str(conn.execute(text("SELECT current_schema()")).scalar() or "")
            self.channel = channel_name(schema)
            self.cancel_channel = channel_name(schema, "cancel")
            self.last_id = int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar() or 0)
        if self.adapter is not None:
            self.adapter.announce = self.announce
        engine = self.host()
        if engine is not None:
            engine.cancel_elsewhere = self.cancel_elsewhere
        self._task = asyncio.create_task(self._listen_forever(), name="chat-fanout")

    async def stop(self) -> None:
        if self.adapter is not None:
            self.adapter.announce = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _listen_forever(self) -> None:
        import psycopg

        lost_at: dt.datetime | None = None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo(self.db), autocommit=True, keepalives_idle=5, keepalives_interval=2, keepalives_count=3
                ) as conn:
                    await conn.execute(f'LISTEN "{self.channel}"')
                    await conn.execute(f'LISTEN "{self.cancel_channel}"')
                    self.listening.set()
                    if lost_at is not None:  # what was committed while we were not listening
                        self.catch_up(lost_at)
                        lost_at = None
                    async for note in conn.notifies():
                        if note.channel == self.cancel_channel:
                            self.cancelled(note.payload)
                        else:
                            self.received(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database went away: listen again, then catch up
                log.warning("cluster.fanout_lost", retry_s=self.retry_s, exc_info=True)
            self.listening.clear()
            lost_at = lost_at or dt.datetime.now(dt.UTC)
            await asyncio.sleep(self.retry_s)

    def received(self, payload: str) -> None:
        if self.adapter is None:
            return
        origin, kind, raw_id, channel = (payload.split("|", 3) + ["", "", "", ""])[:4]
        if origin == ORIGIN or kind not in KINDS or not raw_id.isdigit():
            return
        if kind == "rooms":
            self.adapter.forget_channels()
            return
        self.last_id = max(self.last_id, int(raw_id))
        if channel and not self.adapter.hub.watching(channel):
            return  # nobody here shows that channel: no need to read the message
        with self.db.read() as conn:
            stored = msg_store.get(conn, int(raw_id))
        if stored is not None:
            self.show(stored, kind)

    def catch_up(self, since: dt.datetime) -> int:
        """Messages with ids above the last seen, and edits made since ``since``."""
        if self.adapter is None:
            return 0
        since -= dt.timedelta(seconds=2)  # commits and clocks are not exactly ordered
        query = (
            select(t).where(or_(t.c.id > self.last_id, t.c.edited_at >= since)).order_by(t.c.id).limit(CATCH_UP_LIMIT)
        )
        with self.db.read() as conn:
            found = [msg_store._row(r) for r in conn.execute(query)]
        for stored in found:
            self.show(stored, "message" if stored.id > self.last_id else "edit")
        self.adapter.forget_channels()
        if found:
            log.info("cluster.fanout_caught_up", messages=len(found))
        return len(found)

    def show(self, stored: msg_store.StoredMessage, kind: str) -> None:
        self.last_id = max(self.last_id, stored.id)
        self.relayed += 1
        with contextlib.suppress(Exception):  # one bad message must not stop the listener
            self.adapter.relay(stored, kind)
