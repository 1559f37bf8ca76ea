"""The seed scenarios, end to end through a chat adapter: a shipped rollback opens a ticket
on its own; a command needing a change review is refused in chat without an approved
change in its window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.system import demo_data, make_system

from opsroom.core import RunState
from opsroom.runs import store as run_store


async def test_rollback_shipped_opens_a_ticket_on_its_own(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/rollback payments v4.12.3")
        with system.db.read() as conn:
            [run] = run_store.list_runs(conn)
        assert run.state == RunState.AWAITING_APPROVAL  # production: carol approves in the thread
        await chat.say("carol", f"/approve {run.id}")
        await system.runs.drain()
        with system.db.read() as conn:
            [run] = run_store.list_runs(conn)
        assert run.state == RunState.SUCCEEDED
        request = next(p for p in chat.posts if "needs approval" in p.versions[0].as_text())
        assert request.versions[0].buttons(), "the request offers Approve / Deny"
        assert not request.last.buttons() and "approved" in request.text  # settled in place
        notice = next(t for t in chat.texts() if "ticket #" in t)
        assert "opened" in notice
        await chat.say("alice", "/ticket 1")
        ticket = chat.texts()[-1]
        assert "Rollback: payments in production went back to v4.12.3" in ticket
        assert "alice" in ticket and f"run #{run.id}" in ticket and "succeeded" in ticket
        hook = system.audit.search("action:hook")
        assert hook and "ticket #1" in hook[0].summary
    finally:
        await system.stop()
        system.db.dispose()


async def test_denied_request_is_settled_in_place(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/deploy payments production")
        await chat.say("carol", '/deny 1 "not during the incident"')
        request = next(p for p in chat.posts if "needs approval" in p.versions[0].as_text())
        assert not request.last.buttons()
        assert "denied" in request.text and "not during the incident" in request.text
        with system.db.read() as conn:
            [run] = run_store.list_runs(conn)
        assert run.state == RunState.DENIED
    finally:
        await system.stop()
        system.db.dispose()


def with_migration_command(data: dict[str, Any]) -> dict[str, Any]:
    data["commands"]["migrate"] = {
        "summary": "runs the big schema migration",
        "options": {"not_from_chat": "schema migrations go through the CAB: https://wiki.example.com/change"},
        "runner": {"type": "python", "callable": "tests.support.commands:echo"},
    }
    data["commands"]["purge-cache"] = {
        "summary": "purges the CDN",
        "options": {"change": "required"},
        "runner": {"type": "python", "callable": "tests.support.commands:echo"},
    }
    data["policy"]["rules"].append({"id": "sre-big-changes", "allow": ["migrate", "purge-cache"], "roles": ["sre"]})
    return data


async def test_change_review_refuses_in_chat(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, with_migration_command(demo_data()), monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/migrate")
        assert "not run from chat" in chat.texts()[-1] and "CAB" in chat.texts()[-1]
        await chat.say("alice", "/purge-cache")
        assert "--change" in chat.texts()[-1]
        await chat.say("alice", "/purge-cache --change CHG0000042")
        assert "⛔" in chat.texts()[-1]
        await system.runs.drain()
        with system.db.read() as conn:
            assert run_store.list_runs(conn) == []
        assert len(system.audit.search("action:change.refused")) == 3
    finally:
        await system.stop()
        system.db.dispose()
