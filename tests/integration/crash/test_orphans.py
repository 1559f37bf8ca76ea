"""A run's process left running by a crash is ended on start-up before its lock is freed,
and only if it is the very process the run started (a reused pid is never signalled).
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from tests.support.system import make_system

from opsroom.core import RunState
from opsroom.runs import orphans
from opsroom.runs import store as run_store
from opsroom.store.tables import runs


def _cut_off_run(conn: Any, lock: str, process: dict[str, Any] | None) -> None:
    conn.execute(
        insert(runs).values(
            command="deploy",
            args={},
            raw_text="/deploy payments production",
            user="alice",
            platform="test",
            channel="ops",
            channel_name="#ops",
            state="running",
            fingerprint="",
            dry_run=False,
            created_at=dt.datetime.now(dt.UTC),
            result="",
            error="",
            output="",
            output_truncated=False,
            timeout=60,
            extra={"process": process} if process else {},
            lock_key=lock,
        )
    )


async def test_restart_ends_the_orphan_then_frees_its_lock_and_says_so(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ours = orphans.identity(orphan.pid)
        theirs = orphans.identity(stranger.pid)
        assert ours is not None and theirs is not None
        reused = {**theirs, "start": theirs["start"] - 1}  # same pid, a different process
        system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
        with system.db.begin() as conn:
            _cut_off_run(conn, "deploy:payments:production", ours)
            _cut_off_run(conn, "deploy:api:production", reused)
            run_store.take_lock(conn, "deploy:payments:production", 1, "alice")
            run_store.take_lock(conn, "deploy:api:production", 2, "alice")
        await system.start()
        try:
            assert orphan.wait(10) == -15, "the orphan got SIGTERM"
            assert stranger.poll() is None, "a process that only shares the pid is left alone"
            with system.db.read() as conn:
                assert [r.state for r in run_store.list_runs(conn)] == [RunState.INTERRUPTED] * 2
                assert run_store.list_locks(conn) == []
            notice = next(t for t in chat.texts() if "run #1" in t)
            assert "interrupted by a restart; nothing was retried" in notice
            assert "process was still running and has been stopped" in notice
            assert "has been stopped" not in next(t for t in chat.texts() if "run #2" in t)
        finally:
            await system.stop()
            system.db.dispose()
    finally:
        for p in (orphan, stranger):
            if p.poll() is None:
                p.kill()
                p.wait(5)


async def test_an_exec_run_records_its_process(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/deploy api-gateway staging")
        await system.runs.drain()
        with system.db.read() as conn:
            [run] = run_store.list_runs(conn)
        assert run.state == RunState.SUCCEEDED
        process = run.extra["process"]
        assert process["pid"] == process["pgid"] > 0 and process["start"] > 0 and process["boot"]
    finally:
        await system.stop()
        system.db.dispose()
