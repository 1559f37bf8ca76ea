"""Periodic work as Procrastinate periodic jobs (``cluster.jobs: procrastinate``).

Every replica's worker runs Procrastinate's periodic deferrer. For each ``PeriodicWork`` of
the started plugins (``Live.periodic``: alert timers and escalations, approval expiry,
incident reminders, runbook steps, key deletions) it defers a job per cron timestamp; the
database keeps one job per (task, timestamp), so three replicas make one job, and whichever
worker takes it calls ``run(now)`` with the job's own timestamp as ``now``. A job run late
(a worker was busy, the leader died) does what was due at that time; the next one catches up.
Each kind also carries a job lock (``periodic:<name>``: two ticks of one kind never run at
once, on any replica) and a queueing lock (a backlog of ticks does not pile up).

The service loops stand down meanwhile (``LeaderGate.queued``), and the work itself stays
idempotent in the database (conditional updates, keyed reminder events), so even a tick run
twice says nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import structlog

from opsroom.plugins import PeriodicWork

log = structlog.get_logger("opsroom.cluster")

QUEUE = "periodic"


def cron(every_s: float) -> str:
    """A cron line with Procrastinate's sixth (seconds) column for "every ``every_s``" (whole
    seconds under a minute, whole minutes above)."""
    seconds = max(1, round(every_s))
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{max(1, min(59, round(seconds / 60)))} * * * *"


def register(app: Any, work: Mapping[str, PeriodicWork]) -> None:
    """One Procrastinate task and periodic schedule per work item, on ``app`` (before its
    worker starts)."""
    for name, item in work.items():
        task = app.task(name=f"opsroom.periodic.{name}", queue=QUEUE)(_job(name, item))
        lock = f"periodic:{name}"
        app.periodic(cron=cron(item.every_s), periodic_id=name, lock=lock, queueing_lock=lock)(task)


def _job(name: str, item: PeriodicWork) -> Any:
    async def tick(timestamp: int) -> None:
        now = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        log.debug("cluster.periodic", work=name, at=now.isoformat())
        await item.run(now)

    tick.__name__ = tick.__qualname__ = f"periodic_{name.replace('-', '_')}"
    return tick
