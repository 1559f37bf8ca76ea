"""The Python work of ``AuditLog.append_many`` for one command, without the database.

    .venv/bin/python bench/audit_prepare.py
    PYTHONPATH=<other checkout>/src .venv/bin/python bench/audit_prepare.py   # to compare

A command appends a submit's three rows (command.received, decision, run.started) in one
call and its finish row in another. This times those two calls — redaction check, cleaning,
canonical detail JSON, timestamps, hashing, the rows' parameter tuples — with the INSERT
left out (``_append_sqlite`` links the rows and stops). Best of 7, µs a command.
"""

from __future__ import annotations

import timeit
from typing import Any

from opsroom.audit import AuditRecord
from opsroom.audit import log as audit_log
from opsroom.store import Database, create_db_engine


class _NoInsert(audit_log.AuditLog):
    def _append_sqlite(self, conn: Any, rows: Any) -> list[int]:
        params, _ = audit_log._link(rows, (41, "a" * 64), sqlite=True)
        return [p[0] for p in params]


def _commands(n: int) -> list[tuple[list[AuditRecord], list[AuditRecord]]]:
    base = {"actor": "alice", "platform": "slack", "channel": "ops", "command": "deploy"}
    out = []
    for i in range(n):
        submit = [
            AuditRecord(
                action="command.received",
                summary="!deploy web --env prod",
                detail={"text": "!deploy web --env prod", "parsed": "deploy web --env=prod"},
                run_id=i,
                **base,
            ),
            AuditRecord(
                action="decision",
                run_id=i,
                summary="allowed: rule ops-deploy",
                detail={"allowed": True, "rules": ["ops-deploy"]},
                **base,
            ),
            AuditRecord(
                action="run.started",
                run_id=i,
                summary=f"run #{i} started",
                detail={"args": {"service": "web", "env": "prod"}, "lock": None},
                **base,
            ),
        ]
        finish = [
            AuditRecord(
                action="run.finished",
                run_id=i,
                summary=f"run #{i} succeeded (exit 0)",
                detail={"state": "succeeded", "exit_code": 0, "duration_s": 0.012, "output_lines": 3},
                **base,
            )
        ]
        out.append((submit, finish))
    return out


def main() -> None:
    log = _NoInsert(Database(create_db_engine("sqlite://")))
    commands = _commands(1000)

    def run() -> None:
        for submit, finish in commands:
            log.append_many(None, submit)  # type: ignore[arg-type]
            log.append_many(None, finish)  # type: ignore[arg-type]

    run()
    best = min(timeit.repeat(run, number=5, repeat=7)) / 5 / len(commands)
    print(f"{best * 1e6:.2f} µs a command (submit's 3 rows + finish's 1, no INSERT)")


if __name__ == "__main__":
    main()
