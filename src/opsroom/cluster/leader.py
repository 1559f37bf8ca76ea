"""A leader among replicas: a PostgreSQL session-level advisory lock held on a dedicated
connection. The lock goes with the connection, so when the leader dies (or its network does)
PostgreSQL frees it and another replica's next try wins — within ``retry_s`` plus the time
PostgreSQL takes to notice the dead connection (TCP keepalives, set on this connection).

``opsroom_leader{name}`` on /metrics is 1 on the replica that leads."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import text

from opsroom import metrics
from opsroom.store import Database

log = structlog.get_logger("opsroom.cluster")
_KEY_SPACE = 0x6F70_0000  # "op": keeps our lock ids apart from other applications' on the same DB


def lock_id(name: str, schema: str = "") -> int:
    """Advisory locks are per database, not per schema: the schema is in the id, so two
    opsroom installs in two schemas of one database never take each other's lease."""
    return _KEY_SPACE + (zlib.crc32(f"opsroom:leader:{schema}:{name}".encode()) & 0xFFFF)


class LeaderLease:
    def __init__(
        self,
        db: Database,
        name: str,
        *,
        retry_s: float = 5.0,
        on_change: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.retry_s = retry_s
        self.on_change = on_change  # awaited when this replica starts or stops leading
        self.held = False
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    def _try(self) -> bool:
        if self._conn is None:
            self._conn = self.db.engine.connect()
            if self.db.engine.dialect.name == "postgresql":  # notice a dead peer in ~10 s, not hours
                self._conn.exec_driver_sql(
                    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"
                )
        try:
            if self.db.engine.dialect.name != "postgresql":
                return True  # one process owns a SQLite file: it always leads
            schema = str(self._conn.execute(text("SELECT current_schema()")).scalar() or "")
            got = bool(
                self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id(self.name, schema)}
                ).scalar()
            )
            self._conn.commit()  # the lock is the session's; end the read transaction
            return got
        except Exception:
            self._drop()
            raise

    def _check(self) -> bool:
        """Still ours? A broken connection means the lock is gone with it."""
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:  # noqa: BLE001 - any failure: the session (and the lock) is lost
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                self._conn.invalidate()
                self._conn.close()
            self._conn = None

    async def _set(self, held: bool) -> None:
        changed = held != self.held
        if changed:
            log.info("cluster.leader" if held else "cluster.leader_lost", lease=self.name)
        self.held = held
        metrics.LEADER.labels(self.name).set(1 if held else 0)
        if changed and self.on_change is not None:
            try:
                await self.on_change(held)
            except Exception:  # noqa: BLE001 - the lease stays as it is; the next change tries again
                log.exception("cluster.leader_change_failed", lease=self.name, held=held)

    async def start(self) -> None:
        try:
            await self._set(await asyncio.to_thread(self._try))
        except Exception:  # noqa: BLE001 - the loop tries again
            log.exception("cluster.lease_failed", lease=self.name)
        self._task = asyncio.create_task(self._loop(), name=f"leader-{self.name}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            try:
                held = await asyncio.to_thread(self._check if self.held else self._try)
                await self._set(held)
            except Exception:  # noqa: BLE001 - keep trying
                await self._set(False)
                log.exception("cluster.lease_failed", lease=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._drop)  # closing the session releases the lock at once
        await self._set(False)


class LeaderGate:
    """Whether this process does the once-per-cluster periodic work now (alert timers and
    escalations, approval expiry, incident reminders, runbook steps, key deletions): always
    in single mode; in cluster mode while it holds the ``sweeper`` lease. The work itself
    reads the database for its own time, so a tick the next leader makes late is still right.
    With ``cluster.jobs: procrastinate`` (``queued``) no service loop ticks: Procrastinate
    periodic jobs do, one per timestamp across the cluster (cluster/periodic.py)."""

    def __init__(self) -> None:
        self.lease: LeaderLease | None = None
        self.queued = False

    def __call__(self) -> bool:
        return not self.queued and (self.lease is None or self.lease.held)
