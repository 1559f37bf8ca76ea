"""Runner processes that outlive opsroom (kill -9, OOM, a power cut of the parent only).

The exec runner starts each command in its own session, so its process group is the
command's whole tree. Right after spawning, the run service records the group leader's
identity in the run row (``extra["process"]``): pid, the kernel's start time of that pid
(``/proc/<pid>/stat`` field 22, clock ticks since boot) and the boot id.

On start-up, before recovery marks a cut-off run ``interrupted`` and frees its lock, it
calls ``end_orphans``: a recorded group whose leader is still the same process (same boot,
same pid, same start time — so a pid reused by an unrelated process is never signalled) gets
SIGTERM, then SIGKILL after a grace period. Only then is the lock released, so a new run
under that lock cannot overlap the old one's still-running process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection

from opsroom.runs import store as run_store

log = structlog.get_logger("opsroom.runs")
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:  # not Linux: no way to tell a reused pid, so nothing is ever signalled
        return ""


def _stat(pid: int) -> tuple[int, int] | None:
    """(process group, start time in ticks) of ``pid``, or None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw.rsplit(b")", 1)[-1].split()  # after "pid (comm)": state, ppid, pgrp, ...
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[2]), int(fields[19])  # pgrp; starttime is field 22 of the whole line


def identity(pid: int) -> dict[str, Any] | None:
    """What to record for a just-started group leader; None when it cannot be told apart
    from a later process with the same pid (not Linux, or it is already gone)."""
    stat, boot = _stat(pid), _boot_id()
    if stat is None or not boot:
        return None
    return {"pid": pid, "pgid": stat[0], "start": stat[1], "boot": boot}


def record(conn: Connection, run_id: int, process: Mapping[str, Any]) -> None:
    """Keep the process identity in the run row (its ``extra``), in the caller's transaction."""
    run = run_store.get_run(conn, run_id)
    if run is not None:
        run_store.set_values(conn, run_id, extra={**run.extra, "process": dict(process)})


def _still_ours(process: Mapping[str, Any]) -> bool:
    """The recorded leader is alive and is the very process we started."""
    try:
        pid, pgid, start, boot = int(process["pid"]), int(process["pgid"]), int(process["start"]), str(process["boot"])
    except (KeyError, TypeError, ValueError):
        return False
    return bool(boot) and boot == _boot_id() and _stat(pid) == (pgid, start)


def _signal(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def end_orphans(runs: Iterable[run_store.RunRow], *, grace: float = 5.0) -> list[int]:
    """End the still-running process groups of ``runs`` (SIGTERM, then SIGKILL after
    ``grace`` seconds); returns the ids of the runs whose processes were ended."""
    alive = {
        run.id: run.extra["process"]
        for run in runs
        if isinstance(run.extra.get("process"), dict) and _still_ours(run.extra["process"])
    }
    for run_id, process in alive.items():
        log.warning("orphan_process_ending", run_id=run_id, pid=process["pid"])
        _signal(int(process["pgid"]), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_still_ours(p) for p in alive.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for run_id, process in alive.items():
        # The whole group, even if its leader went on SIGTERM: a child may have ignored it.
        if _still_ours(process) or _group_has_members(int(process["pgid"])):
            log.warning("orphan_process_killed", run_id=run_id, pid=process["pid"])
            _signal(int(process["pgid"]), signal.SIGKILL)
    return sorted(alive)


def _group_has_members(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in group ``pgid`` (ours: its leader was
    verified above, and a group id is not reused while any member lives)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    return any(name.isdigit() and (_stat(int(name)) or (0, 0))[0] == pgid for name in entries)
