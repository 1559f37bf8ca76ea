"""A platform that cannot open channels (the recording adapter has no ``create_channel``)
gets the war room as a thread in the shared #war-room channel: commands in that thread land
on the incident's timeline, commands in another thread of the same channel do not.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.support.system import make_system

from opsroom.incidents import store as incident_store
from opsroom.incidents import timeline


async def idle(system: Any) -> None:
    for _ in range(400):
        if not system.runs.live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("runs still going")


async def test_the_war_room_is_a_thread_where_channels_cannot_be_created(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", '/incident declare "Checkout slow" sev3 service=checkout')
        with system.db.read() as conn:
            incident = incident_store.find(conn, "INC-1")
        assert incident is not None
        assert incident.channel == "war-room" and incident.channel_name == "#war-room" and incident.thread
        head = next(p for p in chat.posts if p.ref.message_id == incident.thread)
        assert head.ref.place.channel == "war-room" and "this thread is its war room" in head.text
        welcome = next(p for p in chat.posts if p.ref.place.thread == incident.thread)
        assert [m.name for m in welcome.last.mentions] and "leads as commander" in welcome.text
        room = chat.place("#war-room", incident.thread)
        await chat.handler(_event(room, "alice", "/status checkout staging"))  # type: ignore[misc]
        await chat.handler(_event(chat.place("#war-room", "other"), "alice", "/status payments staging"))  # type: ignore[misc]
        await chat.handler(_event(room, "bob", "/incident note slow queries on the orders table"))  # type: ignore[misc]
        await idle(system)
        with system.db.read() as conn:
            incident = incident_store.find(conn, "1")
            assert incident is not None
            shown = [e.text for e in timeline.entries(conn, incident)]
        assert any("status checkout staging" in t for t in shown)
        assert not any("payments" in t for t in shown)
        assert "slow queries on the orders table" in shown
        # In the other thread there is no incident: it says so and changes nothing.
        await chat.handler(_event(chat.place("#war-room", "other"), "alice", "/incident status identified"))  # type: ignore[misc]
        assert "not an incident's war room" in chat.texts()[-1]
    finally:
        await system.stop()
        system.db.dispose()


def _event(place: Any, user: str, text: str) -> Any:
    from opsroom.core import MessageEvent

    return MessageEvent(place, user, text)


async def test_a_linked_alert_group_joins_the_timeline(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsroom.alerts.demo import demo_payload
    from opsroom.alerts.intake import parse_alertmanager
    from opsroom.alerts.service import AlertService

    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        alerts = next(s for s in system.services if isinstance(s, AlertService))
        await alerts.ingest("demo", parse_alertmanager(demo_payload(alerts.clock()), source="demo"))
        await alerts.tick()  # the demo's group_wait is 0: the group is posted now
        await chat.say("alice", '/incident declare "Payments errors" sev2 service=payments')
        await chat.say("alice", "/incident alert 99 incident=1")
        assert "There is no alert group #99" in chat.texts()[-1]
        await chat.say("alice", "/incident alert 1 incident=1")
        assert "alert group #1 linked" in chat.texts()[-1]
        await chat.say("alice", "/incident alert 1 incident=1")
        assert "already linked" in chat.texts()[-1]
        await chat.say("alice", "/ack 1")  # in #ops, not the war room: the link brings it in
        with system.db.read() as conn:
            incident = incident_store.find(conn, "1")
            assert incident is not None and incident.source_groups == (1,)
            shown = [(e.kind, e.text) for e in timeline.entries(conn, incident)]
        assert any(k == "alert" and t.startswith("alert group #1 linked: ") for k, t in shown), shown
        assert any(k == "alert" and t.startswith("acked group #1 ") for k, t in shown), shown
    finally:
        await system.stop()
        system.db.dispose()
