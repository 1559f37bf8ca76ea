"""A run cut off by a restart says so in its thread with two buttons: Retry types the command
again as the person who clicks (through policy: bob may not deploy to production), and Mark
failed records the verdict (interrupted → failed, with who decided, on the audit record).
Nothing is retried on its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from tests.support.guardrails import buttons, click
from tests.support.system import make_system

from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.store.tables import audit_log, runs


def _cut_off(conn: object, text: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        insert(runs).values(
            command="deploy",
            args={"service": "api-gateway", "env": "staging"},
            raw_text=text,
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
            extra={},
        )
    )


async def test_an_interrupted_run_offers_retry_and_mark_failed(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    with system.db.begin() as conn:
        _cut_off(conn, "deploy api-gateway staging")  # as parsed: no prefix
    await system.start()
    try:
        notice = next(p for p in chat.posts if "run #1" in p.text)
        assert "nothing was retried" in notice.text
        offered = buttons(notice.last)
        assert set(offered) == {"Retry", "Mark failed"}

        await click(chat, "bob", offered["Mark failed"].action_id)  # not his run, no cancel-others
        with system.db.read() as conn:
            assert run_store.get_run(conn, 1).state == RunState.INTERRUPTED  # type: ignore[union-attr]

        await click(chat, "alice", offered["Retry"].action_id)  # typed again as alice, policy and all
        await system.runs.drain()
        with system.db.read() as conn:
            again = [r for r in run_store.list_runs(conn) if r.id != 1]
        assert [(r.command, r.user, r.state) for r in again] == [("deploy", "alice", RunState.SUCCEEDED)]

        await click(chat, "alice", offered["Mark failed"].action_id)
        with system.db.read() as conn:
            run = run_store.get_run(conn, 1)
            verdict = conn.execute(select(audit_log.c.actor).where(audit_log.c.action == "run.marked_failed")).all()
        assert run is not None and run.state == RunState.FAILED and "marked failed by alice" in run.error
        assert [v.actor for v in verdict] == ["alice"]
        assert any("marked failed by alice" in t for t in chat.texts())
    finally:
        await system.stop()
        system.db.dispose()
