"""A run's audit trail as the run page, ticket hooks and ``run:`` searches read it
(store/run_audit.py: on SQLite over the id range the run row records) is exactly what a
plain ``WHERE run_id = ?`` scan finds, after the engine's own paths wrote it: commands
that succeed, time out, are cancelled by someone else, and a run left running by a crash
and marked interrupted on the next start. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from tests.integration.test_engine import run_rows, with_test_commands
from tests.support.system import demo_data, make_system

from opsroom.store.tables import audit_log, runs


def _plain(system: Any, run_id: int) -> list[int]:
    with system.db.read() as conn:
        query = select(audit_log.c.id).where(audit_log.c.run_id == run_id).order_by(audit_log.c.id)
        return [int(i) for (i,) in conn.execute(query)]


def _crashed_run(system: Any) -> None:
    """A run row left ``running`` by a process that died (as in test_engine)."""
    now = dt.datetime.now(dt.UTC)
    with system.db.begin() as conn:
        conn.execute(
            insert(runs).values(
                command="deploy", args={}, raw_text="/deploy payments production", user="alice", platform="test",
                channel="ops", channel_name="#ops", state="running", fingerprint="", dry_run=False, created_at=now,
                result="", error="", output="", output_truncated=False, timeout=60, extra={},
            )
        )  # fmt: skip


async def test_run_trails_equal_a_plain_scan(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_test_commands(demo_data())
    data["commands"]["sleepy"]["timeout"] = "60s"
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    _crashed_run(system)
    await system.start()  # marks the crashed run interrupted (its audit row comes now)
    try:
        await chat.say("alice", "/deploy api-gateway staging")
        await chat.say("bob", "/sleepy")
        await asyncio.sleep(0.05)
        await chat.say("alice", "/status payments")
        sleeping = next(r for r in run_rows(system) if r.command == "sleepy")
        await chat.say("carol", f"/cancel {sleeping.id}")  # someone else's run, rows between
        await system.runs.drain()
        await chat.say("bob", "/sleepy seconds=0")
        await system.runs.drain()
        made = sorted(r.id for r in run_rows(system))
        assert len(made) == 5
        for run_id in made:
            expected = _plain(system, run_id)
            assert expected, run_id
            assert [e.id for e in system.audit.for_run(run_id)] == expected
            found = system.audit.search(system.audit.parse(f"run:{run_id}"), limit=100)
            assert [e.id for e in found] == expected[::-1]
        interrupted = system.audit.for_run(made[0])
        assert interrupted[-1].action.startswith("run.") and "interrupted" in interrupted[-1].summary
        cancelled = [e.action for e in system.audit.for_run(sleeping.id)]
        assert any("cancel" in a for a in cancelled), cancelled
    finally:
        await system.stop()
        system.db.dispose()
