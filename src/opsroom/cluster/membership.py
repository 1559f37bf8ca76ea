"""Who is alive, and what happens to the runs of a replica that is not.

Each replica writes its heartbeat row every ``heartbeat_s``. A run records the replica that
runs it (``runs.extra.replica``). At start, a replica interrupts only runs whose replica is
dead — never those of a live neighbour — and the leader sweeps for replicas that died since,
every heartbeat: their runs end ``interrupted`` (never re-run: a deploy cut off half way
needs a human look) and their locks are freed in the same transaction (runs/lifecycle.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from sqlalchemy import delete, select, update

from opsroom.cluster.identity import REPLICA_ID
from opsroom.cluster.leader import LeaderLease
from opsroom.cluster.tables import replicas
from opsroom.config.cluster import ClusterConfig
from opsroom.core import RunState
from opsroom.runs.store import RunRow
from opsroom.store import Database

log = structlog.get_logger("opsroom.cluster")

Recover = Callable[[Callable[[RunRow], bool]], Awaitable[list[int]]]


class Membership:
    def __init__(self, config: ClusterConfig, db: Database, *, replica_id: str = REPLICA_ID) -> None:
        self.config = config
        self.db = db
        self.replica_id = replica_id
        self.recover: Recover | None = None  # set by the system once the engine exists
        # cluster/jobs.py: which queued runs any replica's worker may take (those are nobody's
        # orphans: the job queue runs them); None without the job queue.
        self.shareable: Callable[[RunRow], bool] | None = None
        self.lease = LeaderLease(db, "sweeper", retry_s=config.heartbeat_s)
        self._task: asyncio.Task[None] | None = None

    # -- heartbeats ------------------------------------------------------------------------------
    def beat(self) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.db.begin() as conn:
            seen = conn.execute(update(replicas).where(replicas.c.id == self.replica_id).values(last_seen=now)).rowcount
            if not seen:
                conn.execute(replicas.insert().values(id=self.replica_id, started_at=now, last_seen=now))

    def alive(self) -> set[str]:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.config.dead_after_s)
        with self.db.read() as conn:
            return set(conn.execute(select(replicas.c.id).where(replicas.c.last_seen >= cutoff)).scalars())

    def orphaned(self) -> Callable[[RunRow], bool]:
        """A filter for runs cut off by a dead replica (or by this one before a restart)."""
        alive = self.alive() - {self.replica_id}

        def is_orphan(run: RunRow) -> bool:
            if self.shareable is not None and run.state == RunState.QUEUED and self.shareable(run):
                return False  # a worker of any replica will claim it (the leader re-defers it)
            owner = run.extra.get("replica")
            return owner != self.replica_id and owner not in alive

        return is_orphan

    # -- the service -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.beat()
        await self.lease.start()
        self._task = asyncio.create_task(self._loop(), name="cluster-membership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.lease.stop()
        with self.db.begin() as conn:  # a clean stop: neighbours need not wait dead_after_s
            conn.execute(delete(replicas).where(replicas.c.id == self.replica_id))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            try:
                await asyncio.to_thread(self.beat)
                if self.lease.held and self.recover is not None:
                    swept = await self.recover(self.orphaned())
                    if swept:
                        log.warning("cluster.runs_interrupted", runs=swept, reason="their replica died")
            except Exception:  # noqa: BLE001 - a database blip must not end the heartbeat loop
                log.exception("cluster.heartbeat_failed")


def membership_of(extras: Mapping[str, Any]) -> Membership | None:
    found = extras.get("cluster")
    return found if isinstance(found, Membership) else None
