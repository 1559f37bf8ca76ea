"""Approvals and confirmations end to end through a chat adapter, including the attacks:
self-approval, double approval, non-approvers, replayed and forged buttons, changed
arguments, expiry and a restart in the middle. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.support.guardrails import buttons, click
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


async def started(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any]) -> Any:
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    return system, chat


def run_rows(system: Any) -> list[run_store.RunRow]:
    with system.db.read() as conn:
        return run_store.list_runs(conn, limit=100)


def state(system: Any, run_id: int = 1) -> RunState:
    with system.db.read() as conn:
        run = run_store.get_run(conn, run_id)
    assert run is not None
    return run.state


def request_post(chat: Any) -> Any:
    return next(p for p in reversed(chat.posts) if "needs approval" in p.text)


def actions(system: Any, run_id: int) -> list[str]:
    return [e.action for e in system.audit.for_run(run_id)]


async def test_alice_production_deploy_waits_for_carol_then_runs(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    assert state(system) == RunState.AWAITING_APPROVAL
    request = request_post(chat)
    assert "run #1 needs approval" in request.text and "role sre-lead" in request.text
    assert set(buttons(request.last)) == {"Approve", "Deny"}
    assert "/approve 1" in request.text, "text fallback for platforms without buttons"

    await chat.say("alice", "/approve 1")
    assert "someone else must approve" in chat.texts()[-1]
    await chat.say("bob", "/approve 1")
    assert "not an approver" in chat.texts()[-1] and "sre-lead" in chat.texts()[-1]
    await click(chat, "alice", buttons(request.last)["Approve"].action_id)
    assert state(system) == RunState.AWAITING_APPROVAL, "self-approval by button is refused too"

    await click(chat, "carol", buttons(request.last)["Approve"].action_id)
    await system.runs.drain()
    assert state(system) == RunState.SUCCEEDED
    assert any("approved by carol" in t for t in chat.texts())
    trail = actions(system, 1)
    assert trail.count("approval.refused") == 3 and "approval.approved" in trail
    assert trail.index("approval.approved") < trail.index("run.started")


async def test_staging_deploy_needs_no_approval(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments staging")
    await system.runs.drain()
    assert state(system) == RunState.SUCCEEDED
    assert not any("needs approval" in t for t in chat.texts())


def two_leads(data: dict[str, Any]) -> dict[str, Any]:
    data["users"]["dave"] = {"roles": ["sre-lead"]}
    for rule in data["policy"]["rules"]:
        if rule["id"] == "production-needs-a-lead":
            rule["require_approval"]["count"] = 2
    return data


async def test_an_approver_counts_once_even_replaying_the_button(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = await started(tmp_path, db_url, monkeypatch, two_leads(demo_data()))
    try:
        await chat.say("alice", "/deploy payments production")
        approve = buttons(request_post(chat).last)["Approve"].action_id
        await click(chat, "carol", approve)
        await click(chat, "carol", approve)  # the same click replayed
        await chat.say("carol", "/approve 1")
        assert "already voted" in chat.texts()[-1]
        assert state(system) == RunState.AWAITING_APPROVAL
        assert any("1 of 2" in t for t in chat.texts())
        await click(chat, "dave", approve)
        await system.runs.drain()
        assert state(system) == RunState.SUCCEEDED
        assert len(run_rows(system)) == 1, "a replay never starts a second run"
    finally:
        await system.stop()
        system.db.dispose()


async def test_forged_and_foreign_buttons_are_refused(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    approve = buttons(request_post(chat).last)["Approve"].action_id
    body, sig = approve.split(".")
    await click(chat, "carol", body + "." + ("A" if sig[0] != "A" else "B") + sig[1:])
    assert "not one of ours" in chat.texts()[-1]
    forged = system.signer.mint("approval.approve", {"run": 1, "fp": "0" * 16}, single_use=False)
    await click(chat, "carol", forged)
    assert "different command" in chat.texts()[-1]
    assert state(system) == RunState.AWAITING_APPROVAL
    assert system.audit.search("action:action.rejected") and system.audit.search("action:approval.refused")


async def test_approval_does_not_survive_changed_arguments(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production version=v4.13.1")
    # Someone changes what run #1 would do after the request was made.
    with system.db.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == 1)
            .values(args={"service": "payments", "env": "production", "version": "v9.9.9"})
        )
    system.engine.guardrails._invocations.clear()  # as after a restart: rebuilt from the row
    await chat.say("carol", "/approve 1")
    assert "not the command that was requested" in chat.texts()[-1]
    await system.runs.drain()
    assert state(system) == RunState.DENIED


async def test_a_new_request_with_other_arguments_starts_from_zero(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = await started(tmp_path, db_url, monkeypatch, two_leads(demo_data()))
    try:
        await chat.say("alice", "/deploy payments production version=v4.13.1")
        await chat.say("carol", "/approve 1")
        await chat.say("alice", "/cancel 1")
        await chat.say("alice", "/deploy payments production version=v4.13.2")
        assert state(system, 2) == RunState.AWAITING_APPROVAL
        await chat.say("dave", "/approve 2")
        assert state(system, 2) == RunState.AWAITING_APPROVAL, "carol's vote on run #1 does not carry over"
        assert "1 of 2" in chat.texts()[-1] or "1 of 2" in chat.texts()[-2]
    finally:
        await system.stop()
        system.db.dispose()


async def test_deny_ends_the_run_and_frees_the_lock(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    with system.db.read() as conn:
        assert run_store.lock_holder(conn, "deploy:payments:production") is not None
    await chat.say("carol", '/deny 1 "not during the sale"')
    assert state(system) == RunState.DENIED
    assert any("denied by carol" in t for t in chat.texts())
    with system.db.read() as conn:
        assert run_store.lock_holder(conn, "deploy:payments:production") is None
    await chat.say("carol", "/approve 1")
    assert "already denied" in chat.texts()[-1]


async def test_expired_request_ends_expired_and_the_thread_is_told(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    guardrails = system.engine.guardrails
    assert await guardrails.expire_due(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=29)) == []
    assert await guardrails.expire_due(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)) == [1]
    assert state(system) == RunState.EXPIRED
    assert "expired: no approval within 30m" in chat.texts()[-1]
    await chat.say("carol", "/approve 1")
    assert "already expired" in chat.texts()[-1]
    assert "approval.expired" in actions(system, 1)
    with system.db.read() as conn:
        assert run_store.lock_holder(conn, "deploy:payments:production") is None


async def test_pending_approval_survives_a_restart(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, chat = await started(tmp_path, db_url, monkeypatch, demo_data())
    await chat.say("alice", "/deploy payments production")
    approve = buttons(request_post(chat).last)["Approve"].action_id
    await first.stop()
    first.db.dispose()

    second, chat2 = await started(tmp_path, db_url, monkeypatch, demo_data())
    try:
        assert state(second) == RunState.AWAITING_APPROVAL, "a restart does not interrupt a held run"
        await chat2.say("carol", "/approvals")
        assert "#1" in chat2.texts()[-1] and "alice" in chat2.texts()[-1]
        await click(chat2, "carol", approve)  # the button posted before the restart
        await second.runs.drain()
        assert state(second) == RunState.SUCCEEDED
    finally:
        await second.stop()
        second.db.dispose()


async def test_approvals_lists_what_waits_for_you(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    await chat.say("carol", "/approvals")
    assert "Waiting for your approval (1)" in chat.texts()[-1]
    await chat.say("alice", "/approvals")
    assert "Your runs that are waiting (1)" in chat.texts()[-1]
    await chat.say("bob", "/approvals")
    assert "Nothing waits" in chat.texts()[-1]


def with_requester_team_rule(data: dict[str, Any]) -> dict[str, Any]:
    data["users"]["alice"]["groups"] = ["payments-team"]
    data["users"]["erin"] = {"roles": ["sre-lead"], "groups": ["payments-team"]}
    for rule in data["policy"]["rules"]:
        if rule["id"] == "production-needs-a-lead":
            rule["require_approval"]["allow_requester_team"] = False
    return data


async def test_requester_team_may_not_approve_when_configured(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = await started(tmp_path, db_url, monkeypatch, with_requester_team_rule(demo_data()))
    try:
        await chat.say("alice", "/deploy payments production")
        await chat.say("erin", "/approve 1")
        assert "share team payments-team" in chat.texts()[-1]
        assert state(system) == RunState.AWAITING_APPROVAL
        await chat.say("carol", "/approve 1")
        await system.runs.drain()
        assert state(system) == RunState.SUCCEEDED
    finally:
        await system.stop()
        system.db.dispose()


async def test_typed_confirmation_for_production_restart(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/restart payments production")
    assert state(system) == RunState.AWAITING_CONFIRMATION
    assert "type `confirm 1 payments`" in chat.texts()[-1]
    assert not buttons(chat.posts[-1].last), "a typed confirmation has no button to click"
    await chat.say("alice", "/confirm 1")
    assert "does not match" in chat.texts()[-1]
    await chat.say("alice", "/confirm 1 paymnets")
    assert "does not match" in chat.texts()[-1]
    await chat.say("carol", "/confirm 1 payments")
    assert "Only alice" in chat.texts()[-1]
    assert state(system) == RunState.AWAITING_CONFIRMATION
    await chat.say("alice", "/confirm 1 payments")
    await system.runs.drain()
    assert state(system) == RunState.SUCCEEDED


def confirm_then_approve(data: dict[str, Any]) -> dict[str, Any]:
    data["commands"]["deploy"]["options"] = {"confirm": True}
    return data


async def test_confirm_button_then_approval(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = await started(tmp_path, db_url, monkeypatch, confirm_then_approve(demo_data()))
    try:
        await chat.say("alice", "/deploy payments production")
        assert state(system) == RunState.AWAITING_CONFIRMATION
        confirm = buttons(chat.posts[-1].last)["Confirm"].action_id
        await chat.say("carol", "/approve 1")
        assert "must be confirmed by alice first" in chat.texts()[-1]
        await click(chat, "bob", confirm)
        assert state(system) == RunState.AWAITING_CONFIRMATION
        await click(chat, "alice", confirm)
        assert state(system) == RunState.AWAITING_APPROVAL
        await chat.say("carol", "/approve 1")
        await system.runs.drain()
        assert state(system) == RunState.SUCCEEDED
    finally:
        await system.stop()
        system.db.dispose()


async def test_dry_run_needs_no_approval_and_changes_nothing(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production --dry-run")
    await system.runs.drain()
    [run] = run_rows(system)
    assert run.state == RunState.SUCCEEDED
    assert "dry run: would run" in run.output and not run.lock_key
    assert not any("needs approval" in t for t in chat.texts())


async def test_typo_in_a_dynamic_choice_is_an_error_with_a_suggestion(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy paymnets production")
    assert run_rows(system) == []
    assert "payments" in chat.texts()[-1]
