"""CPU a run spends on its timeout: one ``asyncio.timeout`` per run (what main did) against
``RunService._watch`` and the exit the run service makes (one shared timer, "Wave 10 —
finish" in docs/performance.md). On uvloop, as ``opsroom run`` serves.

    .venv/bin/python bench/run_deadlines.py
"""

from __future__ import annotations

import asyncio
import time

from opsroom.runs.service import LiveRun, RunService, _taken_back
from opsroom.web.serving import event_loop_factory

N = 200_000


async def per_run_timeout() -> float:
    began = time.process_time()
    for _ in range(N):
        async with asyncio.timeout(300.0):
            pass
    return (time.process_time() - began) / N * 1e6


async def shared_timer() -> float:
    service = RunService(None, None, redact=lambda text: (text, 0))
    lives = [LiveRun(i, "ping", "alice") for i in range(20)]  # 20 at once
    began = time.process_time()
    for i in range(N):
        live = lives[i % 20]
        task, cancelling = service._watch(live, 300.0)  # noqa: SLF001
        try:
            pass
        finally:  # what RunService._execute does when the runner's block ends
            live.deadline = None
            if live.timed_out:
                _taken_back(live, task, cancelling)
    return (time.process_time() - began) / N * 1e6


def main() -> None:
    for _ in range(3):
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            old = runner.run(per_run_timeout())
            new = runner.run(shared_timer())
        print(f"asyncio.timeout per run {old:.2f} µs   shared timer {new:.2f} µs   (CPU a run)")


if __name__ == "__main__":
    main()
