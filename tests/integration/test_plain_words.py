"""Chat speaks plain words (issue 13): a demo flow — a look-up, a production rollback with its
approval and the ticket it opens, the ticket shown, a failed deploy, runs listed and shown,
an alert acked and silenced, a refused no-op rollback — and no internal name reaches the chat:
no provider key or ``builtin``, no module name, no raw place id ("test #ops message 7")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.support.system import make_system

from opsroom.alerts.demo import demo_payload
from opsroom.alerts.intake import parse_alertmanager
from opsroom.alerts.service import AlertService
from opsroom.runs import store as run_store

INTERNAL = (
    re.compile(r"\bbuiltin\b"),  # the built-in tracker's provider key
    re.compile(r"\bopsroom\.[a-z_]+"),  # module names
    re.compile(r"\btest #[\w-]+"),  # platform + channel: a raw place
    re.compile(r"\bmessage \d+\b"),  # a raw message id
    re.compile(r"\btest:[#\w]"),  # platform:channel references
    re.compile(r"opsroom mute"),
)


async def test_no_internal_names_in_chat(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/status payments")
        await chat.say("alice", "/rollback payments v4.12.3")
        with system.db.read() as conn:
            [run] = [r for r in run_store.list_runs(conn) if r.command == "rollback"]
        await chat.say("carol", f"/approve {run.id}")
        await system.runs.drain()
        await chat.say("alice", "/ticket 1")
        await chat.say("alice", "/ticket")
        await chat.say("alice", '/ticket open "disk full on web1"')
        await chat.say("alice", "/ticket 2")
        await chat.say("alice", "/deploy payments staging version=bad")
        await system.runs.drain()
        await chat.say("alice", "/runs")
        await chat.say("alice", f"/run {run.id}")
        await chat.say("alice", "/rollback payments v4.12.3")  # already runs it now: pre-flight
        alerts = next(s for s in system.services if isinstance(s, AlertService))
        await alerts.ingest("demo", parse_alertmanager(demo_payload(alerts.clock()), source="demo"))
        await alerts.tick()  # the demo's group_wait is 0: the group is posted now
        await chat.say("alice", "/ack 1", channel="#war-room")
        await chat.say("alice", "/silence 1 1h", channel="#war-room")
        transcript = chat.transcript()
        assert "ticket #1 opened (built-in tracker)" in transcript
        assert "already runs v4.12.3" in transcript
        assert "disk full on web1" in transcript, [t for t in chat.texts() if "icket" in t]
        found = sorted({m.group(0) for pattern in INTERNAL for m in pattern.finditer(transcript)})
        assert not found, f"internal names in chat: {found}\n{transcript}"
    finally:
        await system.stop()
        system.db.dispose()
