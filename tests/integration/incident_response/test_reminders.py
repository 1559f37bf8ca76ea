"""Reminders in the war room: an unclaimed lead after `lead_unclaimed_minutes`, a missing
status update after the severity's `update_every_minutes`; once per period (even when asked
twice), never on the timeline, and none once resolved. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support.system import make_system

from opsroom.incidents import store as incident_store
from opsroom.incidents import timeline
from opsroom.incidents.reminders import Reminders


async def test_reminders_once_per_period_until_resolved(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        desk = next(e for e in system.extensions if e.name == "incidents").extras["incidents.desk"]
        reminders = Reminders(desk)
        await chat.say("alice", '/incident declare "Search down" sev2 service=search')
        await chat.say("alice", "/incident role commander none incident=1")
        start = dt.datetime.now(dt.UTC)
        desk.clock = lambda: start + dt.timedelta(minutes=5)
        assert await reminders.remind_once() == 0
        desk.clock = lambda: start + dt.timedelta(minutes=11)
        assert await reminders.remind_once() == 1
        assert "has no commander after 11 minutes" in chat.texts()[-1]
        assert await reminders.remind_once() == 0  # the same period: said once
        desk.clock = lambda: start + dt.timedelta(minutes=61)
        assert await reminders.remind_once() == 2
        assert "no status update for 61 minutes" in chat.texts()[-1]
        await chat.say("alice", "/incident update incident=1 failing over to the replica")
        await chat.say("alice", "/incident role commander me incident=1")
        desk.clock = lambda: start + dt.timedelta(minutes=70)
        assert await reminders.remind_once() == 0
        await chat.say("alice", "/incident resolve incident=1")
        desk.clock = lambda: start + dt.timedelta(hours=5)
        assert await reminders.remind_once() == 0
        with system.db.read() as conn:
            incident = incident_store.find(conn, "1")
            assert incident is not None
            assert not [e for e in timeline.entries(conn, incident) if "⏰" in e.text]
    finally:
        await system.stop()
        system.db.dispose()
