"""Runs as jobs shared by the replicas (``cluster.jobs: procrastinate``): any replica's
worker may run a command another replica received.

A transactional outbox. The engine writes the run row (``queued``) in the command's
transaction as always; after the commit it defers a Procrastinate job ``opsroom.run`` with
``queueing_lock=run:<id>`` (one waiting job per run). Every replica runs a worker on the
``runs`` queue; the worker that picks the job **claims** the run with a conditional update
(``… WHERE state = 'queued'``, so a job delivered twice runs once), records itself as the
run's replica, rebuilds the invocation from the row and runs it like a local run (progress
message, Cancel, hooks, audit). If the defer itself fails, the receiving replica claims and
runs the run itself. The leader re-defers, every heartbeat, queued runs older than a few
seconds whose receiving replica is dead (a crash between the commit and the defer loses
nothing; a run already taken is skipped by the claim); a live replica's queued runs are its
own (a local run waiting for a slot).

A run whose command has secret arguments (masked in the row) or a secret redacted from its
text is never deferred: it runs on the replica that has the typed values in memory, and if
that replica dies first it ends ``interrupted`` like its other runs. Deploy
locks stay rows taken by the run's own insert (engine.submit): a dead worker's lock is freed
by the sweeper in the transaction that ends its run ``interrupted``, where a Procrastinate job
lock would wait for its own stalled-job handling.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from sqlalchemy import select, text, update

from opsroom.audit import AuditRecord
from opsroom.cluster import periodic as cluster_periodic
from opsroom.cluster.fanout import conninfo
from opsroom.cluster.identity import REPLICA_ID
from opsroom.core import Invocation, Place, Principal, RunState
from opsroom.plugins import PeriodicWork
from opsroom.policy.redaction import MASK
from opsroom.runs import lifecycle
from opsroom.runs import store as run_store
from opsroom.store import Database
from opsroom.store.tables import runs

log = structlog.get_logger("opsroom.cluster")

QUEUE = "runs"
REDEFER_AFTER_S = 5.0


class RunQueue:
    """The cluster plugin's service; ``defer`` is the engine's hook (Engine.defer)."""

    def __init__(
        self,
        db: Database,
        host: Callable[[], Any],
        leads: Callable[[], bool],
        alive: Callable[[], set[str]],
        *,
        every_s: float,
        periodic: Mapping[str, PeriodicWork] | None = None,
    ) -> None:
        import procrastinate

        self.db = db
        self.host = host
        self.leads = leads
        self.alive = alive  # ids of live replicas (cluster/membership.py)
        self.every_s = every_s
        self.periodic = periodic if periodic is not None else {}  # read at start: all plugins started
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo(db), min_size=1, max_size=4)
        )
        self.task = self.app.task(name="opsroom.run", queue=QUEUE)(self.run_job)
        self._tasks: list[asyncio.Task[Any]] = []

    # -- the service -----------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_schema)
        cluster_periodic.register(self.app, self.periodic)
        await self.app.open_async()
        self.host().defer = self.defer
        worker = self.app.run_worker_async(
            queues=[QUEUE, cluster_periodic.QUEUE],
            concurrency=16,
            name=REPLICA_ID[:60],
            wait=True,
            install_signal_handlers=False,
            listen_notify=True,
            update_heartbeat_interval=self.every_s,
            delete_jobs="successful",  # the run row is the record; finished jobs would only pile up
        )
        self._tasks = [
            asyncio.create_task(worker, name="run-queue-worker"),
            asyncio.create_task(self._redefer_forever(), name="run-queue-sweep"),
        ]

    async def stop(self) -> None:
        engine = self.host()
        if getattr(engine, "defer", None) == self.defer:
            engine.defer = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.close_async()

    def _ensure_schema(self) -> None:
        """Procrastinate's tables in opsroom's schema, created once: replicas starting
        together wait for each other on a transaction-scoped advisory lock."""
        schema = self.app.schema_manager.get_schema()
        with self.db.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('opsroom:procrastinate:' || current_schema()))"))
            if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
                conn.exec_driver_sql(schema.replace("%", "%%"))

    # -- deferring -------------------------------------------------------------------------------
    async def defer(self, run_id: int, inv: Invocation) -> bool:
        """After the run row's commit: a job for it. False: run it here (secrets)."""
        if self.host().stored_args(inv) != dict(inv.args):
            return False
        if not await self._defer(run_id):  # no job: claim and run it here, with what we hold
            task = asyncio.create_task(self.run_claimed(run_id, inv), name=f"run-{run_id}-here")
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)
        return True

    def shareable(self, run: run_store.RunRow) -> bool:
        """Whether a worker may run ``run`` from its row alone: nothing secret was left out."""
        spec = self.host().parts.catalog.get(run.command)
        if spec is None or any(a.secret for a in spec.args):
            return False
        return not any(MASK in v for v in run.args.values() if isinstance(v, str))

    async def _defer(self, run_id: int) -> bool:
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            await self.task.configure(queueing_lock=f"run:{run_id}").defer_async(run_id=run_id)
        except AlreadyEnqueued:
            pass  # a job is already waiting for it
        except Exception:  # noqa: BLE001 - the caller decides (run it here, or the next sweep)
            log.exception("cluster.defer_failed", run_id=run_id)
            return False
        return True

    async def _redefer_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            if not self.leads():
                continue
            try:
                cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=REDEFER_AFTER_S)
                with self.db.read() as conn:
                    ids = conn.execute(
                        select(runs.c.id).where(runs.c.state == RunState.QUEUED.value, runs.c.created_at < cutoff)
                    ).scalars()
                    waiting = [run_store.get_run(conn, int(i)) for i in list(ids)]
                alive = self.alive()
                for run in waiting:  # a dead replica's: its job may never have been deferred
                    if run is not None and run.extra.get("replica") not in alive and self.shareable(run):
                        await self._defer(run.id)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("cluster.redefer_failed")

    # -- running ---------------------------------------------------------------------------------
    async def run_job(self, run_id: int) -> None:
        await self.run_claimed(run_id, None)

    async def run_claimed(self, run_id: int, inv: Invocation | None) -> None:
        """Claim the run; if this process got it, run it (``inv``: the one in memory, else
        rebuilt from the row) and return when it has ended."""
        engine = self.host()
        run = self._claim(engine, run_id)
        if run is None:
            return  # another worker has it, or it ended
        inv = inv or self._invocation(engine, run)
        await engine.runs.take_slot()
        engine.start_run(run_id, inv, reserved=True)
        live = engine.runs.live.get(run_id)
        if live is not None and live.task is not None:
            await asyncio.gather(live.task, return_exceptions=True)

    def _claim(self, engine: Any, run_id: int) -> run_store.RunRow | None:
        with self.db.begin() as conn:
            run = run_store.get_run(conn, run_id)
            if run is None or run.command not in engine.parts.runners:
                return None
            taken = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.state == RunState.QUEUED.value)
                .values(extra={**run.extra, "replica": REPLICA_ID})
            ).rowcount
            if taken != 1:
                return None
            record = AuditRecord(
                actor=run.user,
                action="run.started",
                run_id=run_id,
                command=run.command,
                platform=run.platform,
                channel=run.channel_name,
                summary=f"run #{run_id} started",
                detail={"replica": REPLICA_ID},
            )
            lifecycle.move(
                conn,
                run_id,
                RunState.QUEUED,
                RunState.RUNNING,
                audit=engine.audit,
                record=record,
                started_at=run_store.utcnow(),
            )
        return run

    @staticmethod
    def _invocation(engine: Any, run: run_store.RunRow) -> Invocation:
        spec = engine.parts.catalog.get(run.command)
        principal = engine.parts.directory.get(run.user) or Principal(run.user, known=False)
        place = Place(
            run.platform, run.channel, run.thread, is_direct=run.channel_name == "dm", channel_name=run.channel_name
        )
        flags = {"dry_run": True} if run.dry_run else {}
        return Invocation(
            command=spec, args=dict(run.args), raw_text=run.raw_text, principal=principal, place=place, flags=flags
        )
