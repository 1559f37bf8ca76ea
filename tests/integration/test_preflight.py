"""Pre-flight: a runner's cheap check runs before anyone is asked to approve, so the demo's
rollback to the version already running is refused at once, with the check's sentence, and
carol is never asked; `opsroom policy check --database` says the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.system import make_system

from opsroom.core import RunState
from opsroom.engine.check import check, place_of
from opsroom.runs import store as run_store


async def test_noop_rollback_is_refused_before_anyone_is_asked(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rollback payments v4.13.0")  # production already runs v4.13.0
        answer = chat.texts()[-1]
        assert "payments in production already runs v4.13.0; there is nothing to roll back" in answer
        assert "nobody was asked" in answer
        assert not any("needs approval" in t for t in chat.texts()), "carol is not asked for nothing"
        with system.db.read() as conn:
            assert run_store.list_runs(conn) == []  # no run: it counts against no rate limit
        [row] = system.audit.search("action:preflight.refused")
        assert row.actor == "alice" and "nothing to roll back" in row.summary

        # The same check through the API's no-write path (with the live database).
        engine = system.engine
        verdict = await check(
            engine.parts.pipeline,
            engine.services,
            engine.parts.directory.get("alice"),
            place_of("#ops", "test"),
            "rollback payments v4.13.0",
        )
        assert verdict.outcome == "deny" and "nothing to roll back" in (verdict.refusal or "")

        # A real rollback passes the pre-flight and waits for carol as before.
        await chat.say("alice", "/rollback payments v4.12.3")
        with system.db.read() as conn:
            [run] = run_store.list_runs(conn)
        assert run.state == RunState.AWAITING_APPROVAL
    finally:
        await system.stop()
        system.db.dispose()


async def test_never_deployed_version_is_named(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/rollback payments v9.9.9 env=staging")
        assert "v9.9.9 was never deployed to payments in staging (known: v4.13.0)" in chat.texts()[-1]
    finally:
        await system.stop()
        system.db.dispose()
