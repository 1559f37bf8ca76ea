"""bench/dispatch.py on PostgreSQL, with the server's side measured and a schema variant.

The dispatch bench prints this process's CPU a command; on PostgreSQL about as much again is
spent by the server's backends, and with 20 at once their work on each writer group's
statements is part of every commit cycle (docs/performance.md, "Wave 9 — lead", "Wave 10 —
pg10"). This wrapper runs ``bench/dispatch.py`` unchanged and adds:

- ``server CPU µs a command``: the CPU time of the backends serving this process's own
  connections (their pids, from ``psycopg``'s connection info, sampled in /proc while they
  live), divided by the commands run. Other processes' backends are not counted.
- ``OPSROOM_BENCH_AFTER_MIGRATE``: SQL (one or more statements) run after the schema's
  migrations, to measure a variant without changing code — e.g. the trigram index's upper
  bound: ``DROP INDEX ix_audit_log_search_text_trgm``.

    OPSROOM_BENCH_AFTER_MIGRATE='DROP INDEX ix_audit_log_search_text_trgm' \\
    .venv/bin/python bench/pg_server.py --no-sqlite --schema mine --n 4000 --concurrency 20 --no-startup

Linux only (/proc). Pass exactly one ``--concurrency`` and ``--repeat 1``: the figure is the
whole process's server CPU over every case run.
"""

from __future__ import annotations

import atexit
import os
import runpy
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


def _report() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 2000
    total = sum(_cpu.values())
    print(f"server CPU of this process's backends: {total:.2f} s, {total / n * 1e6:.0f} µs a command")


def main() -> None:
    _db.Database.migrate = _migrate_then_vary  # type: ignore[method-assign]
    threading.Thread(target=_sample, daemon=True).start()
    atexit.register(_report)
    sys.argv = [str(Path(__file__).with_name("dispatch.py")), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
