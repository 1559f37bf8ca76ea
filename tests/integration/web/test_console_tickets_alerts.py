"""Console pages of tickets and alerts, and the links between runs, tickets, alerts and chat.

The demo's alert fires into #war-room; alice acks it, silences it and clicks its Logs button;
her production rollback (approved by carol) opens a ticket on its own. Then:
- /console/alerts/N shows labels, who acked / silenced, the Logs run and links back;
- /console/tickets/N shows the built-in tracker, the run that opened it and its chat thread;
- the run page links its ticket and chat message; chat's "ticket #N" is a link;
- bob sees neither an alert posted in a channel he cannot read nor a ticket opened there;
- hostile label values and ticket titles are shown as text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.web.conftest import Served, demo_data, serve, wait_for

from opsroom.alerts.demo import demo_payload
from opsroom.core import RunState
from opsroom.runs import store as run_store

HOSTILE = "<script>alert(1)</script>"


def config() -> dict[str, Any]:
    data = demo_data()
    # #war-room is for SREs only here: bob (developer) must not see what happens there.
    for channel in data["channels"]:
        if channel["name"] == "#war-room":
            channel["members"] = ["role:sre", "role:sre-lead"]
    return data


@pytest.fixture
async def web(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    async with serve(tmp_path, db_url, monkeypatch, config()) as served:
        yield served


async def fire(web: Served, labels: dict[str, str] | None = None) -> None:
    payload = demo_payload(dt.datetime.now(dt.UTC))
    if labels:
        payload["alerts"][0]["labels"].update(labels)
        payload["commonLabels"] = {}
    async with httpx.AsyncClient(base_url=web.base, timeout=10) as client:
        answer = await client.post(
            "/hooks/alertmanager/demo", json=payload, headers={"Authorization": "Bearer demo-alert-token"}
        )
    assert answer.status_code < 300, answer.text


def card(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in messages if "data-action" in m["html"] and "Ack" in m["html"])


def action(html: str, label: str) -> str:
    found = re.search(r'data-action="([^"]+)"[^>]*>' + re.escape(label) + "<", html)
    assert found, f"no {label} button"
    return found.group(1)


async def test_alert_and_ticket_pages_link_everything(web: Served) -> None:
    alice, carol, bob = await web.browser("alice"), await web.browser("carol"), await web.browser("bob")
    await fire(web, {"team": HOSTILE})
    top = card(await wait_for(lambda: alice.history("war-room")))
    group = int(re.search(r"group #(\d+)", top["html"]).group(1))  # type: ignore[union-attr]
    assert f'href="/console/alerts/{group}"' in top["html"], "the card's group #N links its page"

    assert (await alice.click(top["id"], action(top["html"], "Logs"))).status_code < 300
    await wait_for(lambda: web.system.audit.search("action:run.finished") or web.system.audit.search("logs"))
    assert (await alice.post("war-room", f"/ack {group}")).status_code < 300
    assert (await alice.post("war-room", f"/silence {group} 1h")).status_code < 300
    await wait_for(lambda: web.system.audit.search("action:alert.silence"))

    page = await alice.http.get(f"/console/alerts/{group}")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "team=&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    history = page.text[page.text.index('id="alert-history"') :]
    assert "acknowledged" in history and "silenced" in history and "alice" in history
    assert "fired" in history
    [logs_run] = await wait_for(lambda: _runs(web, "logs"))
    assert f'href="/console/runs/{logs_run.id}"' in page.text, "the run its Logs button started"
    run_page = await alice.http.get(f"/console/runs/{logs_run.id}")
    assert f'href="/console/alerts/{group}"' in run_page.text, "the run links back to its alert"
    assert 'id="run-chat-link"' in run_page.text

    listing = await alice.http.get("/console/alerts?status=firing")
    assert f'href="/console/alerts/{group}"' in listing.text and HOSTILE not in listing.text
    # bob cannot read #war-room: no alert for him, and the same 404 as a missing one
    assert f"/console/alerts/{group}" not in (await bob.http.get("/console/alerts")).text
    assert (await bob.http.get(f"/console/alerts/{group}")).status_code == 404
    assert (await bob.http.get("/console/alerts/999999")).status_code == 404

    # A production rollback, approved by carol, opens a ticket on its own.
    await alice.post("ops", "/rollback payments v4.12.3")
    [rollback] = await wait_for(lambda: _runs(web, "rollback"))
    assert (await carol.post("ops", f"/approve {rollback.id}")).status_code < 300
    await web.system.runs.drain()
    await wait_for(lambda: web.system.audit.search("action:hook"))
    with web.system.db.read() as conn:
        assert run_store.get_run(conn, rollback.id).state == RunState.SUCCEEDED  # type: ignore[union-attr]
    notice = await wait_for(lambda: _find(alice.everything("ops"), "ticket #1"))
    assert 'href="/console/tickets/1">ticket #1</a>' in notice["html"], "chat links ticket #N"
    assert "builtin" not in notice["html"] and "(built-in tracker)" in notice["html"]

    ticket = await alice.http.get("/console/tickets/1")
    assert ticket.status_code == 200
    assert "built-in tracker" in ticket.text and "builtin" not in ticket.text
    assert f'href="/console/runs/{rollback.id}">run #{rollback.id}</a>' in ticket.text, "what opened it"
    thread = ticket.text[ticket.text.index('id="ticket-thread"') :]
    assert re.search(r'href="[^"]*/chat/ops\?thread=\d+#m\d+">in #ops</a>', thread), "its chat thread"
    run_page = await alice.http.get(f"/console/runs/{rollback.id}")
    assert 'href="/console/tickets/1">ticket #1</a>' in run_page.text
    tickets = await alice.http.get("/console/tickets?origin=run")
    assert 'href="/console/tickets/1"' in tickets.text


def _runs(web: Served, command: str) -> list[Any]:
    with web.system.db.read() as conn:
        return [r for r in run_store.list_runs(conn) if r.command == command]


async def _find(messages: Any, text: str) -> dict[str, Any] | None:
    return next((m for m in await messages if text in m["html"] and "opened" in m["html"]), None)


async def test_tickets_follow_chat_visibility_and_escape(web: Served) -> None:
    alice, bob = await web.browser("alice"), await web.browser("bob")
    # alice opens one in #war-room (bob cannot read it), bob one in #ops.
    assert (await alice.post("war-room", f'/ticket open "{HOSTILE} disk full"')).status_code < 300
    assert (await bob.post("ops", '/ticket open "printer on fire"')).status_code < 300
    await wait_for(lambda: len(web.system.audit.search("command:ticket")) >= 2)

    mine = await alice.http.get("/console/tickets")
    assert mine.status_code == 200 and HOSTILE not in mine.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; disk full" in mine.text
    assert "printer on fire" in mine.text  # #ops is readable by alice
    page = await alice.http.get("/console/tickets/1")
    assert "typed in #war-room" in page.text and HOSTILE not in page.text

    theirs = await bob.http.get("/console/tickets")
    assert "disk full" not in theirs.text and "printer on fire" in theirs.text
    assert (await bob.http.get("/console/tickets/1")).status_code == 404
    assert (await bob.http.get("/console/tickets/2")).status_code == 200
    assert (await bob.http.get("/console/tickets/jira/OPS-1")).status_code == 404
    assert (await bob.http.get("/console/tickets?status=closed")).status_code == 200
    # signed out: to the sign-in page
    stranger = await web.browser()
    assert (await stranger.http.get("/console/tickets")).status_code == 303
