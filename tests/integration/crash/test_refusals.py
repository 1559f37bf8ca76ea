"""Every refusal is on the record (issue 11 item 6): votes on finished, expired and cancelled
runs, forged, expired and already-used buttons, each audited as a refusal with its reason.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from tests.support.guardrails import buttons, click
from tests.support.system import make_system

from opsroom.audit import AuditEntry


@pytest.fixture
async def demo(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    yield system, chat
    await system.stop()
    system.db.dispose()


def refusals(system: Any, action: str) -> list[AuditEntry]:
    return [e for e in system.audit.search(f"action:{action}") if e.detail.get("refused")]


def approve_button(chat: Any) -> str:
    request = next(p for p in reversed(chat.posts) if "needs approval" in p.text)
    return buttons(request.last)["Approve"].action_id


async def test_votes_on_a_finished_run_are_refusals_not_allowed(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    approve = approve_button(chat)
    await chat.say("carol", "/approve 1")
    await system.runs.drain()
    await chat.say("carol", "/approve 1")  # typed, after the run finished
    await click(chat, "carol", approve)  # and by button
    await chat.say("carol", "/deny 1")
    refused = refusals(system, "approval.refused")
    assert {e.detail["reason"] for e in refused} == {"run is succeeded"} and len(refused) == 3
    assert all(e.actor == "carol" and e.run_id == 1 for e in refused)
    assert "already succeeded" in chat.texts()[-1]


async def test_a_vote_on_a_cancelled_run_is_refused(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    await chat.say("alice", "/cancel 1")
    await chat.say("carol", "/approve 1")
    [refused] = refusals(system, "approval.refused")
    assert refused.detail["reason"] == "run is cancelled"


async def test_a_vote_after_expiry_is_refused_as_expired(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    system.engine.guardrails.clock = lambda: later
    await chat.say("carol", "/approve 1")
    [refused] = refusals(system, "approval.refused")
    assert refused.detail["reason"] == "expired" and "expired" in chat.texts()[-1]
    await chat.say("carol", "/approve 1")  # the run is expired now
    assert [e.detail["reason"] for e in refusals(system, "approval.refused")] == ["run is expired", "expired"]


async def test_a_vote_on_no_such_run_is_refused(demo: Any) -> None:
    system, chat = demo
    await chat.say("carol", "/approve 99")
    [refused] = refusals(system, "approval.refused")
    assert refused.detail == {"via": "command", "refused": True, "reason": "no such run", "run": 99}


async def test_cancelling_an_ended_run_is_refused(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/status payments")
    await system.runs.drain()
    await chat.say("alice", "/cancel 1")
    [refused] = refusals(system, "cancel.refused")
    assert refused.detail["reason"] == "run is succeeded"


async def test_forged_expired_and_used_buttons_are_refusals(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/deploy payments production")
    approve = approve_button(chat)
    body, sig = approve.split(".")
    await click(chat, "carol", body + "." + ("A" if sig[0] != "A" else "B") + sig[1:])
    expired = system.signer.mint("run.cancel", {"run": 1}, ttl=-60)
    await click(chat, "alice", expired)
    reasons = [e.detail["reason"] for e in refusals(system, "action.rejected")]
    assert reasons == ["that button has expired", "that button is not one of ours"]
    once = system.signer.mint("run.cancel", {"run": 1}, single_use=True)
    await click(chat, "alice", once)
    await click(chat, "alice", once)
    [used] = refusals(system, "action.replayed")
    assert used.actor == "alice" and used.detail["reason"] == "already used"
    assert "already used" in chat.texts()[-1]
