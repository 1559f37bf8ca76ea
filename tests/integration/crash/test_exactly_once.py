"""Exactly-once delivery: the duplicate marker commits with what the command produced, so
a delivery cut off between the two is processed when the platform retries it, never dropped
and never run twice. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.system import make_system

from opsroom.runs import store as run_store
from opsroom.store.tables import processed_events


@pytest.fixture
async def demo(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    yield system, chat
    await system.stop()
    system.db.dispose()


def markers(system: Any) -> list[str]:
    with system.db.read() as conn:
        return [r.event_id for r in conn.execute(select(processed_events.c.event_id))]


def runs(system: Any) -> list[run_store.RunRow]:
    with system.db.read() as conn:
        return run_store.list_runs(conn, limit=100)


async def test_a_delivery_cut_off_before_its_run_is_written_runs_on_the_retry(
    demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = demo
    real_insert = run_store.insert_run
    calls = {"n": 0}

    def dies_once(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:  # the process "dies" after the pipeline, before the run row commits
            raise RuntimeError("power cut")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(run_store, "insert_run", dies_once)
    await chat.say("alice", "/status payments", event_id="Ev-cut")
    assert runs(system) == [] and markers(system) == [], "nothing of the failed attempt is kept"
    await chat.say("alice", "/status payments", event_id="Ev-cut")  # the platform retries
    await chat.say("alice", "/status payments", event_id="Ev-cut")  # and once more
    await system.runs.drain()
    assert len(runs(system)) == 1, "the retry was processed once, not dropped"
    assert markers(system) == ["Ev-cut"]


async def test_simultaneous_repeats_of_one_delivery_make_one_run(demo: Any) -> None:
    system, chat = demo
    await asyncio.gather(*(chat.say("alice", "/status payments", event_id="Ev-burst") for _ in range(5)))
    await system.runs.drain()
    assert len(runs(system)) == 1
    assert len(system.audit.search("action:command.received")) == 1, "one received row, not five"


async def test_a_parse_error_is_recorded_once_with_its_marker(demo: Any) -> None:
    system, chat = demo
    for _ in range(3):
        await chat.say("alice", "/deplyo api staging", event_id="Ev-typo")
    assert len(system.audit.search("action:parse_error")) == 1
    assert markers(system) == ["Ev-typo"]
    assert len(chat.posts) == 1, "the repeats are not answered again"


async def test_a_denial_is_recorded_once(demo: Any) -> None:
    system, chat = demo
    for _ in range(2):
        await chat.say("bob", "/deploy api-gateway production", event_id="Ev-deny")
    [decision] = system.audit.search("action:decision")
    assert decision.detail["allowed"] is False and runs(system) == []
    assert markers(system) == ["Ev-deny"]
