"""What a channel sees of a run, end to end: a command that answers at once gets one message
(its outcome); one that takes a while gets the progress message with Cancel, edited in place
to its outcome. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.system import demo_data, make_system

from opsroom.core import Actions, RunState
from opsroom.runs import store as run_store


@pytest.fixture
async def system_and_chat(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    data = demo_data()
    data["commands"]["pong"] = {
        "summary": "answers at once",
        "args": [{"name": "text", "type": "string", "required": False, "default": "pong"}],
        "runner": {"type": "python", "callable": "opsroom.demo.noop:pong"},
    }
    data["commands"]["sleepy"] = {
        "summary": "sleeps",
        "args": [{"name": "seconds", "type": "string", "required": False, "default": "0.2"}],
        "runner": {"type": "python", "callable": "tests.support.commands:sleepy"},
    }
    data["policy"]["rules"].append({"id": "all-test", "allow": ["pong", "sleepy"], "users": ["*"]})
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    yield system, chat
    await system.stop()
    system.db.dispose()


async def test_a_command_that_answers_at_once_posts_one_message_with_its_outcome(system_and_chat: Any) -> None:
    system, chat = system_and_chat
    await chat.say("alice", "/pong hello")
    await system.runs.drain()
    [post] = chat.posts
    [message] = post.versions  # never a "running" message edited a moment later
    text = message.as_text()
    assert message.tone == "success" and "hello" in text and "run #1" in text and "succeeded" in text
    assert not any(isinstance(b, Actions) for b in message.blocks)
    actions = [e.action for e in system.audit.for_run(1)]
    assert actions == ["command.received", "decision", "run.started", "run.finished"]


async def test_a_command_that_takes_a_while_shows_progress_with_cancel_then_its_outcome(
    system_and_chat: Any,
) -> None:
    system, chat = system_and_chat
    await chat.say("alice", "/sleepy 0.2")
    await system.runs.drain()
    [post] = chat.posts
    first, *_, last = post.versions
    assert first.tone == "running" and "running" in first.as_text()
    [actions] = [b for b in first.blocks if isinstance(b, Actions)]
    assert [b.label for b in actions.buttons] == ["Cancel"]
    assert last.tone == "success" and "done" in last.as_text()
    with system.db.read() as conn:
        [run] = run_store.list_runs(conn, limit=10)
    assert run.state == RunState.SUCCEEDED


async def test_every_row_of_a_run_names_who_what_and_where(system_and_chat: Any) -> None:
    """The submit's rows are built with their shared fields by position: each row still says
    who ran which command where, and which run it is about."""
    system, chat = system_and_chat
    await chat.say("alice", "/pong hello")
    await system.runs.drain()
    rows = system.audit.for_run(1)
    [place] = {(e.platform, e.channel) for e in rows}
    assert place[0] == chat.name and place[1]
    assert {(e.actor, e.command, e.run_id) for e in rows} == {("alice", "pong", 1)}
    received, decision, started, _finished = rows
    assert received.summary == "pong hello" and received.detail["parsed"] == "pong text=hello"
    assert decision.summary.startswith("allowed: ") and decision.detail["allowed"] is True
    assert started.summary == "run #1 started" and started.detail == {"args": {"text": "hello"}, "lock": None}
