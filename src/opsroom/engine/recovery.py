"""Start-up recovery: runs cut off by a stop or a crash are ended and marked interrupted,
their locks freed and their threads told (in that order: runs/orphans.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import structlog

from opsroom.audit import AuditRecord
from opsroom.core import Place, RunState
from opsroom.engine import interrupted
from opsroom.runs import lifecycle, orphans
from opsroom.runs import store as run_store

if TYPE_CHECKING:
    from opsroom.engine.core import Engine

log = structlog.get_logger("opsroom.engine")


async def recover(engine: Engine, only: Callable[[run_store.RunRow], bool] | None = None) -> list[int]:
    """Runs still marked running or queued when we start were cut off by a stop or a
    crash: end their processes that are still alive, then mark them ``interrupted``,
    free their locks, and tell their threads. In that order: a lock is freed only once
    nothing of its run is running any more (runs/orphans.py). ``only``: in cluster mode,
    the runs of dead replicas (a live neighbour's runs are its own business)."""

    def cut_off_runs(conn: Any) -> list[run_store.RunRow]:
        found = run_store.list_runs(conn, limit=10_000, states=[RunState.RUNNING, RunState.QUEUED])
        return [r for r in found if only is None or only(r)]

    with engine.db.read() as conn:
        cut_off = cut_off_runs(conn)
    ended = set(await orphans.end_orphans(cut_off))
    with engine.db.begin() as conn:
        stale = cut_off_runs(conn)
        for run in stale:
            record = AuditRecord(
                actor="opsroom",
                action="run.interrupted",
                run_id=run.id,
                command=run.command,
                platform=run.platform,
                channel=run.channel_name,
                summary=f"run #{run.id} interrupted: opsroom restarted while it was {run.state.value}",
            )
            lifecycle.move(
                conn,
                run.id,
                run.state,
                RunState.INTERRUPTED,
                audit=engine.audit,
                record=record,
                lock_key=run.lock_key,
                finished_at=run_store.utcnow(),
                error="opsroom stopped while this run was in progress",
            )
    for run in stale:
        place = Place(run.platform, run.channel, run.thread, channel_name=run.channel_name)
        try:  # with Retry (as the clicker, through policy) and Mark failed buttons
            await engine.reply(place, interrupted.notice(engine, run, stopped=run.id in ended))
        except LookupError:
            log.warning("interrupted_run_platform_missing", run_id=run.id, platform=run.platform)
        except Exception:
            log.exception("interrupted_notice_failed", run_id=run.id)
    return [r.id for r in stale]
