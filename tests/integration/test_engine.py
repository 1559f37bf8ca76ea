"""The engine end to end through a chat adapter: what a user in a channel sees, what lands
in the database, and what the audit trail says. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from tests.support.system import demo_data, make_system

from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.store.tables import runs


@pytest.fixture
async def demo(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    yield system, chat
    await system.stop()
    system.db.dispose()


def with_test_commands(data: dict[str, Any]) -> dict[str, Any]:
    data["commands"]["sleepy"] = {
        "summary": "sleeps",
        "timeout": "1s",
        "args": [{"name": "seconds", "type": "int", "required": False, "default": 30}],
        "runner": {"type": "python", "callable": "tests.support.commands:sleepy"},
    }
    data["commands"]["leak"] = {
        "summary": "prints secrets",
        "runner": {"type": "python", "callable": "tests.support.commands:leak"},
    }
    data["policy"]["rules"].append({"id": "all-test", "allow": ["sleepy", "leak"], "users": ["*"]})
    return data


def run_rows(system: Any) -> list[run_store.RunRow]:
    with system.db.read() as conn:
        return run_store.list_runs(conn, limit=100)


async def test_alice_deploys_and_sees_progress_then_success(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy api-gateway staging")
    await system.runs.drain()
    [run] = run_rows(system)
    assert run.state == RunState.SUCCEEDED and run.exit_code == 0
    assert run.args == {"service": "api-gateway", "env": "staging", "version": "latest"}
    assert "v2.7.4 → v2.8.0" in run.output
    progress = chat.posts[0]
    assert len(progress.versions) >= 2, "the progress message is edited in place"
    assert "running" in progress.versions[0].as_text()
    final = progress.text
    assert "succeeded" in final and "exit 0" in final and "run #" in final
    actions = [e.action for e in system.audit.for_run(run.id)]
    assert actions == ["command.received", "decision", "run.started", "run.finished"]


async def test_seed_rollback_example_works_word_for_word(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/rollback payments v4.12.3")
    await chat.say("carol", "/approve 1")  # production rollbacks need an SRE lead (guardrails)
    await system.runs.drain()
    [run] = run_rows(system)
    assert run.state == RunState.SUCCEEDED, run.output + run.error
    assert run.args["env"] == "production"
    assert any("runs v4.12.3" in t for t in chat.texts())


async def test_developer_is_denied_production_with_the_reason(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "/deploy api-gateway production")
    await system.runs.drain()
    assert run_rows(system) == []
    [answer] = chat.texts()
    assert "⛔" in answer and "bob" in answer and "production" in answer
    [decision] = system.audit.search("action:decision")
    assert decision.actor == "bob" and decision.detail["allowed"] is False


async def test_developer_may_deploy_staging(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "!deploy checkout staging")
    await system.runs.drain()
    assert [r.state for r in run_rows(system)] == [RunState.SUCCEEDED]


async def test_typo_gets_a_suggestion_and_changes_nothing(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deplyo api-gateway staging")
    await chat.say("alice", "/deploy paymnets staging")
    assert run_rows(system) == []
    assert "did you mean" in chat.texts()[0] and "deploy" in chat.texts()[0]
    assert "payments" in chat.texts()[1]


async def test_plain_conversation_is_ignored(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "deploy api-gateway staging please, when you have a minute")
    assert chat.posts == [] and run_rows(system) == []


@pytest.mark.parametrize(
    "text",
    [
        '/status "$(touch /tmp/opsroom-pwned)"',
        "/status `id`",
        "/status all; rm -rf /",
        "/deploy 'api-gateway; id' staging",
        "/deploy api-gateway staging version=v1|id",
        "/status all\n/deploy payments production",
        "/status " + "a" * 10_000,
    ],
)
async def test_hostile_input_never_reaches_a_runner(demo: Any, text: str) -> None:
    system, chat = demo
    await chat.say("alice", text)
    await system.runs.drain()
    assert run_rows(system) == []
    assert not Path("/tmp/opsroom-pwned").exists()
    assert chat.posts, "bad input always gets an answer"


async def test_homoglyph_command_name_does_not_run(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/dеploy api-gateway staging")  # Cyrillic е
    assert run_rows(system) == []
    assert "deploy" in chat.texts()[0]


async def test_failed_deploy_shows_the_error_and_exit_code(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments staging version=bad")
    await system.runs.drain()
    [run] = run_rows(system)
    assert run.state == RunState.FAILED and run.exit_code == 1
    assert "Health check failed" in chat.posts[0].text and "exit 1" in chat.posts[0].text


async def test_second_run_on_a_held_lock_is_refused_with_the_holder(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments staging")
    await chat.say("bob", "/deploy payments staging")
    await system.runs.drain()
    states = [r.state for r in run_rows(system)]
    assert states == [RunState.SUCCEEDED]
    refusal = next(t for t in chat.texts() if "🔒" in t)
    assert "deploy:payments:staging" in refusal and "alice" in refusal


async def test_same_delivery_three_times_runs_once(demo: Any) -> None:
    system, chat = demo
    for _ in range(3):
        await chat.say("alice", "/status payments", event_id="evt-123")
    await system.runs.drain()
    assert len(run_rows(system)) == 1


async def test_cancel_and_timeout(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, with_test_commands(demo_data()), monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/sleepy seconds=0")  # finishes
        await chat.say("bob", "/sleepy")  # 30 s > timeout of 1 s
        await system.runs.drain()
        ok, timed_out = sorted(run_rows(system), key=lambda r: r.id)
        assert ok.state == RunState.SUCCEEDED
        assert timed_out.state == RunState.TIMED_OUT and "timed out after 1s" in timed_out.error

        system.engine.parts.catalog.get("sleepy")  # still there
        await chat.say("bob", "/sleepy seconds=0")
        await system.runs.drain()
    finally:
        await system.stop()
        system.db.dispose()


async def test_user_cancels_own_run_but_not_someone_elses(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = with_test_commands(demo_data())
    data["commands"]["sleepy"]["timeout"] = "60s"
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/sleepy")
        await asyncio.sleep(0.05)
        [run] = run_rows(system)
        await chat.say("carol", f"/cancel {run.id}")  # carol is a lead: may cancel others' runs
        await system.runs.drain()
        [run] = run_rows(system)
        assert run.state == RunState.CANCELLED and "carol" in run.error

        await chat.say("alice", "/sleepy")
        await asyncio.sleep(0.05)
        running = next(r for r in run_rows(system) if r.state == RunState.RUNNING)
        await chat.say("bob", f"/cancel {running.id}")
        assert "may not cancel" in chat.texts()[-1]
        await chat.say("alice", f"/cancel {running.id}")
        await system.runs.drain()
        assert next(r for r in run_rows(system) if r.id == running.id).state == RunState.CANCELLED
    finally:
        await system.stop()
        system.db.dispose()


async def test_secrets_are_redacted_in_chat_and_database(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_API_TOKEN", "s3cr3t-value-42")
    data = with_test_commands(demo_data())
    data["secrets"] = ["DEMO_API_TOKEN"]
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/leak")
        await system.runs.drain()
        [run] = run_rows(system)
        assert "s3cr3t-value-42" not in run.output + run.result and "xoxb-" not in run.output + run.result
        assert "s3cr3t-value-42" not in chat.transcript() and "xoxb-" not in chat.transcript()
        assert "[REDACTED]" in chat.transcript()
        finished = system.audit.for_run(run.id)[-1]
        assert finished.detail.get("redactions", 0) >= 2
    finally:
        await system.stop()
        system.db.dispose()


async def test_run_left_running_by_a_crash_is_marked_interrupted(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    with system.db.begin() as conn:
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
                extra={},
                lock_key="deploy:payments:production",
            )
        )
        run_store.take_lock(conn, "deploy:payments:production", 1, "alice")
    await system.start()
    try:
        [run] = run_rows(system)
        assert run.state == RunState.INTERRUPTED
        assert "interrupted" in chat.texts()[0] and "#1" in chat.texts()[0]
        with system.db.read() as conn:
            assert run_store.list_locks(conn) == []
    finally:
        await system.stop()
        system.db.dispose()


async def test_help_lists_only_what_you_may_run(demo: Any) -> None:
    system, chat = demo
    await chat.say("carol", "help")  # addressed? no prefix: must be ignored
    assert chat.posts == []
    await chat.say("carol", "/help")
    carol_help = chat.texts()[-1]
    await chat.say("alice", "/help")
    alice_help = chat.texts()[-1]
    assert "deploy" in alice_help and "rollback" in alice_help
    assert "deploy" not in carol_help and "status" in carol_help


async def test_audit_search_from_chat_finds_the_rollback(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/rollback payments v4.12.3")
    await system.runs.drain()
    await chat.say("bob", "/audit rollback since yesterday")
    answer = chat.texts()[-1]
    assert "rollback" in answer and "alice" in answer


async def test_on_failure_hook_chains_a_command(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = demo_data()
    data["commands"]["deploy"]["on_failure"] = [{"command": "status {service} {env}"}]
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/deploy payments staging version=bad")
        await system.runs.drain()
        states = {r.command: r.state for r in run_rows(system)}
        assert states == {"deploy": RunState.FAILED, "status": RunState.SUCCEEDED}
        hook = system.audit.search("action:hook")
        assert hook and "status" in hook[0].summary
    finally:
        await system.stop()
        system.db.dispose()
