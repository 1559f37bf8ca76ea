"""bench/dispatch.py on PostgreSQL, with the server's side measured and a schema variant.

The dispatch bench prints this process's CPU a command; on PostgreSQL about as much again is
spent by the server's backends, and with 20 at once their work on each writer group's
statements is part of every commit cycle (docs/performance.md, "Wave 9 — lead", "Wave 10 —
pg10"). This wrapper runs ``bench/dispatch.py`` unchanged and adds:

- ``server CPU µs a command``: the CPU time of the backends serving this process's own
  connections (their pids, from ``psycopg``'s connection info, sampled in /proc while they
  live) over the same window as the bench's own CPU (its timed commands, not the warm-up,
  the migrations or the chain's verification), divided by the commands timed; one figure per
  run (``--repeat``), the run dispatch.py prints (the most cmd/s) marked. Other processes'
  backends are not counted.
- ``OPSROOM_BENCH_AFTER_MIGRATE``: SQL (one or more statements) run after the schema's
  migrations, to measure a variant without changing code — e.g. the trigram index's upper
  bound: ``DROP INDEX ix_audit_log_search_text_trgm``.

    OPSROOM_BENCH_AFTER_MIGRATE='DROP INDEX ix_audit_log_search_text_trgm' \\
    .venv/bin/python bench/pg_server.py --no-sqlite --schema mine --n 4000 --concurrency 20 --no-startup

Linux only (/proc). Pass exactly one ``--concurrency`` (the figures are per run, in order).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from opsroom.store import db as _db

_TICK = os.sysconf("SC_CLK_TCK")
_pids: set[int] = set()
_cpu: dict[int, float] = {}  # backend pid -> its CPU seconds, last seen


@event.listens_for(Engine, "connect")
def _remember(dbapi_conn: Any, _record: Any) -> None:
    info = getattr(dbapi_conn, "info", None)
    pid = getattr(info, "backend_pid", None)  # psycopg 3: no query, no transaction opened
    if isinstance(pid, int):
        _pids.add(pid)


def _sample() -> None:
    while True:
        for pid in list(_pids):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended: its last sample stays
                continue
            _cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        time.sleep(0.05)


_migrate = _db.Database.migrate


def _migrate_then_vary(self: _db.Database) -> None:
    _migrate(self)
    extra = os.environ.get("OPSROOM_BENCH_AFTER_MIGRATE", "")
    if extra.strip() and self.engine.dialect.name == "postgresql":
        with self.engine.begin() as conn:
            conn.exec_driver_sql(extra)  # one simple-protocol query: ``;``, ``$$`` bodies as typed


def _server_cpu() -> float:
    """The backends' CPU seconds now (the living ones read afresh, the ended ones as last seen)."""
    for pid in list(_pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        _cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return sum(_cpu.values())


class _Clock:
    """dispatch.py's ``time``: its two ``process_time()`` calls a run (before and after the
    timed commands) also mark the server's CPU, so both sides count the same window."""

    perf_counter = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        self.marks: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def process_time(self) -> float:
        self.marks.append(_server_cpu())
        return time.process_time()


def main() -> None:
    _db.Database.migrate = _migrate_then_vary  # type: ignore[method-assign]
    threading.Thread(target=_sample, daemon=True).start()
    path = Path(__file__).with_name("dispatch.py")
    spec = importlib.util.spec_from_file_location("dispatch", path)
    assert spec is not None and spec.loader is not None
    dispatch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dispatch)
    clock = _Clock()
    dispatch.time = clock
    runs: list[tuple[float, float]] = []  # (cmd/s, server µs a command) per run
    bench = dispatch.bench_backend

    async def measured(url: str, n: int, concurrency: int) -> dict[str, Any]:
        result: dict[str, Any] = await bench(url, n, concurrency)
        start, end = clock.marks[-2:]
        runs.append((result["per_s"], (end - start) / result["commands"] * 1e6))
        return result

    dispatch.bench_backend = measured
    sys.argv = [str(path), *sys.argv[1:]]
    dispatch.main()
    if runs:
        best = max(range(len(runs)), key=lambda i: runs[i][0])
        each = ", ".join(f"{us:.0f}{' (printed)' if i == best else ''}" for i, (_, us) in enumerate(runs))
        print(f"server CPU of this process's backends, µs a command, each run: {each}")


if __name__ == "__main__":
    main()
