"""The audit follows chat visibility on every surface: chat ``/audit``, the console page,
``GET /api/audit`` and ``GET /api/audit/export``. bob is not in #leads and never sees alice's
DM; carol (a #leads member) sees #leads; dora holds ``audit-all`` and sees everything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.web.conftest import Served, demo_data, serve, wait_for

from opsroom.audit.chain import AuditEntry
from opsroom.web.sessions import create_token

MARKS = ("zebra-ops", "zebra-leads", "zebra-dm")


def config() -> dict[str, Any]:
    data = demo_data()
    data["channels"].append({"name": "#leads", "members": ["carol", "role:auditor"]})
    data["users"]["dora"] = {"display_name": "Dora (auditor)", "roles": ["auditor"]}
    data["policy"]["rules"].append({"id": "auditors-see-all", "allow": ["audit-all"], "roles": ["auditor"]})
    data["policy"]["rules"].append({"id": "dora-reads", "allow": ["audit", "runs"], "users": ["dora"]})
    return data


@pytest.fixture
async def web(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    async with serve(tmp_path, db_url, monkeypatch, config()) as served:
        # Three commands that do not parse (an unknown service), so each leaves one audit row
        # whose text carries its mark: bob in #ops, carol in #leads, alice in her DM.
        for user, channel, mark in (
            ("bob", "ops", "zebra-ops"),
            ("carol", "leads", "zebra-leads"),
            ("alice", "dm:alice", "zebra-dm"),
        ):
            b = await served.browser(user)
            assert (await b.post(channel, f"/deploy {mark} staging")).status_code < 300
        await wait_for(lambda: len(served.system.audit.search("zebra action:parse_error")) == 3)
        yield served


def marks_in(text: str) -> set[str]:
    return {m for m in MARKS if m in text}


def api(web: Served, user: str) -> httpx.AsyncClient:
    token, _ = create_token(web.system.db, user)
    return httpx.AsyncClient(base_url=web.base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


SEES = {
    "bob": {"zebra-ops"},
    "carol": {"zebra-ops", "zebra-leads"},
    "alice": {"zebra-ops", "zebra-dm"},
    "dora": set(MARKS),
}


async def test_api_search_and_export_show_only_what_the_token_user_may_read(web: Served) -> None:
    for user, expected in SEES.items():
        async with api(web, user) as client:
            found = (await client.get("/api/audit", params={"q": "zebra"})).json()["entries"]
            assert marks_in(json.dumps(found)) == expected, user
            # A filter naming a hidden channel finds nothing rather than leaking it.
            hidden = (await client.get("/api/audit", params={"q": "channel:#leads"})).json()["entries"]
            assert bool(hidden) == ("zebra-leads" in expected), user
            export = await client.get("/api/audit/export")
            assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in export.text.splitlines()]
            assert marks_in(export.text) == expected, user
            # Each exported line still re-hashes on its own.
            for line in lines:
                entry = AuditEntry(**{**line, "ts": datetime.fromisoformat(line["ts"])})
                assert entry.computed_hash() == line["hash"]
            only = await client.get("/api/audit/export", params={"q": "zebra user:carol"})
            assert marks_in(only.text) == ({"zebra-leads"} & expected), user
            assert (await client.get("/api/audit/export", params={"q": "since never-ish"})).status_code == 400
    # The whole trail holds all three: the filtering is per person, nothing was lost.
    assert marks_in(json.dumps([e.to_json() for e in web.system.audit.search("zebra")])) == set(MARKS)


async def test_console_audit_page_shows_only_what_the_viewer_may_read(web: Served) -> None:
    for user, expected in SEES.items():
        b = await web.browser(user)
        page = await b.http.get("/console/audit", params={"q": "zebra"})
        assert page.status_code == 200 and marks_in(page.text) == expected, user


async def test_chat_audit_is_filtered_and_private_when_it_could_be_sensitive(web: Served) -> None:
    bob, carol, alice = [await web.browser(u) for u in ("bob", "carol", "alice")]
    readers = {u: api(web, u) for u in ("bob", "carol", "alice")}

    async def bot_messages(user: str, channel: str, since: int) -> list[dict[str, Any]]:
        page = (await readers[user].get(f"/api/channels/{channel}/messages", params={"after": since or None})).json()
        return [m for m in page["messages"] if m["is_bot"]]

    async def newest(user: str, channel: str) -> int:
        page = (await readers[user].get(f"/api/channels/{channel}/messages", params={"limit": 200})).json()
        return max([m["id"] for m in page["messages"]] or [0])

    try:
        start = await newest("bob", "ops")
        # bob's results all come from #ops itself: the answer is posted for the channel.
        await bob.post("ops", "/audit zebra")
        [answer] = await wait_for(lambda: bot_messages("bob", "ops", start))
        assert marks_in(json.dumps(answer)) == {"zebra-ops"} and not answer["only_you"]

        # carol's include #leads: only carol sees the answer; bob sees nothing of it.
        start = await newest("bob", "ops")
        await carol.post("ops", "/audit zebra")
        [private] = await wait_for(lambda: bot_messages("carol", "ops", start))
        assert private["only_you"] and marks_in(json.dumps(private)) == {"zebra-ops", "zebra-leads"}
        await alice.post("ops", "/whoami")
        await wait_for(lambda: bot_messages("bob", "ops", start))
        assert not any(marks_in(json.dumps(m)) for m in await bot_messages("bob", "ops", start))

        # Asked in her DM the answer is private anyway; alice sees her DM's entry, never #leads.
        start = await newest("alice", "dm:alice")
        await alice.post("dm:alice", "/audit zebra")
        [dm_answer] = await wait_for(lambda: bot_messages("alice", "dm:alice", start))
        assert marks_in(json.dumps(dm_answer)) == {"zebra-ops", "zebra-dm"}
    finally:
        for client in readers.values():
            await client.aclose()
