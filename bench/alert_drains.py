"""Where the alert thread's time goes while it stores: ``bench/alerts.py`` (any of its
options) with each drain of the intake queue timed. Prints, at the end, how busy the alert
thread was, how much of that it spent on a CPU, how much waiting for one (runnable, in the
kernel's run queue: ``/proc/self/task/<tid>/schedstat``), its user/sys ticks, its context
switches per payload (voluntary: it slept on the GIL or a lock; involuntary: preempted), and
how many payloads each drain stored. What is neither on a CPU nor in the run queue is sleeping: waiting
for the GIL (or a lock, or I/O). It also prints the garbage collector's passes by thread and
generation over the whole process (a full pass holds the GIL for tens of milliseconds).
Linux only; a measuring aid, not a timed test.

    .venv/bin/python bench/alert_drains.py --only alertmanager
"""

from __future__ import annotations

import atexit
import collections
import gc
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opsroom.alerts import intake_queue

_drains: list[tuple[float, float, int, float, float, int, int, int, int]] = []
_store = intake_queue.IntakeQueue._drain


_gc: dict[tuple[str, int], list[float]] = collections.defaultdict(lambda: [0, 0.0])
_gc_started: dict[str, float] = {}


def _gc_timed(phase: str, info: dict[str, Any]) -> None:
    name = threading.current_thread().name
    if phase == "start":
        _gc_started[name] = time.perf_counter()
        return
    spent = _gc[name, info["generation"]]
    spent[0] += 1
    spent[1] += time.perf_counter() - _gc_started.pop(name, time.perf_counter())


def _task(name: str) -> list[str]:
    if name == "status_lines":
        with open(f"/proc/self/task/{threading.get_native_id()}/status") as f:
            return [line for line in f if line.endswith("ctxt_switches:") or "ctxt_switches:" in line]
    with open(f"/proc/self/task/{threading.get_native_id()}/{name}") as f:
        return f.read().rpartition(")")[2].split() if name == "stat" else f.read().split()


def _switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of this thread so far."""
    found = dict(line.split(":", 1) for line in _task("status_lines"))
    return int(found["voluntary_ctxt_switches"]), int(found["nonvoluntary_ctxt_switches"])


def _timed(self: intake_queue.IntakeQueue, loop: Any) -> None:
    waiting = len(self._waiting)
    queued0, stat0, sw0 = int(_task("schedstat")[1]), _task("stat"), _switches()
    t0, c0 = time.perf_counter(), time.thread_time()
    _store(self, loop)
    t1, c1 = time.perf_counter(), time.thread_time()
    queued1, stat1, sw1 = int(_task("schedstat")[1]), _task("stat"), _switches()
    user, system = int(stat1[11]) - int(stat0[11]), int(stat1[12]) - int(stat0[12])
    _drains.append(
        (t0, t1, waiting, c1 - c0, (queued1 - queued0) / 1e9, user, system, sw1[0] - sw0[0], sw1[1] - sw0[1])
    )


def _report() -> None:
    passes = ", ".join(f"{name} gen{gen} {n:.0f}× {t * 1000:.0f} ms" for (name, gen), (n, t) in sorted(_gc.items()))
    print(f"garbage collector (whole process): {passes}")
    drains = [d for d in _drains if d[2]]
    if not drains:
        return
    span = drains[-1][1] - drains[0][0]
    busy = sum(d[1] - d[0] for d in drains)
    cpu, queued = sum(d[3] for d in drains), sum(d[4] for d in drains)
    sizes = dict(sorted(collections.Counter(d[2] for d in drains).items()))
    print(
        f"alert thread: {len(drains)} drains over {span:.2f}s, busy {busy / span:.0%}; of that on a CPU "
        f"{cpu / busy:.0%}, waiting for one {queued / busy:.0%}; user/sys ticks "
        f"{sum(d[5] for d in drains)}/{sum(d[6] for d in drains)}; context switches per payload "
        f"{sum(d[7] for d in drains) / sum(d[2] for d in drains):.1f} voluntary (waits: the GIL, a lock), "
        f"{sum(d[8] for d in drains) / sum(d[2] for d in drains):.1f} involuntary; payloads per drain {sizes}"
    )


if __name__ == "__main__":  # not again in the bench's spawned client process
    intake_queue.IntakeQueue._drain = _timed  # type: ignore[method-assign]
    atexit.register(_report)
    gc.callbacks.append(_gc_timed)
    script = Path(__file__).with_name("alerts.py")
    sys.argv = [str(script), *sys.argv[1:]]
    runpy.run_path(str(script), run_name="__main__")
