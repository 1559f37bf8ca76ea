"""The web chat end to end over real HTTP and WebSocket: sign-in, commands, live progress,
buttons and approvals, escaping, and who sees which channel. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy import select
from tests.integration.web.conftest import Served, demo_data, serve, wait_for

from opsroom.chat.web import codec
from opsroom.chat.web.tables import webchat_messages
from opsroom.core import RunState
from opsroom.runs import store as run_store


def runs_of(web: Served) -> list[run_store.RunRow]:
    with web.system.db.read() as conn:
        return run_store.list_runs(conn, limit=100)


def bot_messages(web: Served, channel: str = "ops") -> list[Any]:
    with web.system.db.read() as conn:
        return conn.execute(
            select(webchat_messages)
            .where(webchat_messages.c.channel == channel, webchat_messages.c.is_bot.is_(True))
            .order_by(webchat_messages.c.id)
        ).all()


async def test_pages_need_a_signed_in_user(web: Served) -> None:
    anon = await web.browser()
    for path in (
        "/chat",
        "/chat/ops",
        "/console/runs",
        "/console/audit",
        "/console/dashboard",
        "/console/approvals",
        "/console/runs/1",
    ):
        response = await anon.http.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    assert (await anon.http.get("/chat/ops/history")).status_code == 401
    assert (await anon.http.post("/chat/ops/messages", json={"text": "hi"})).status_code == 401


async def test_demo_sign_in_offers_demo_users_and_sets_a_safe_cookie(web: Served) -> None:
    b = await web.browser()
    page = await b.http.get("/login")
    assert "demo" in page.text and "Sign in as Alice (SRE)" in page.text
    response = await b.sign_in("alice")
    cookie = response.headers["set-cookie"]
    assert "opsroom_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    chat = await b.http.get("/chat/ops")
    assert chat.status_code == 200 and "#ops" in chat.text and "#war-room" in chat.text
    assert "Content-Security-Policy" in chat.headers
    # Unknown users cannot sign in, demo or not.
    stranger = await web.browser()
    assert (await stranger.sign_in("mallory")).status_code == 401


async def test_deploy_in_ops_runs_and_the_progress_message_updates_live(web: Served) -> None:
    alice = await web.browser("alice")
    bob = await web.browser("bob")
    async with bob.live("ops") as seen:  # another person watching the channel
        response = await alice.post("ops", "/deploy api-gateway staging")
        assert response.status_code == 202
        await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in runs_of(web)))
        await wait_for(lambda: any(e["type"] == "edit" and "succeeded" in e["html"] for e in seen))
    [run] = runs_of(web)
    assert (run.platform, run.channel, run.channel_name, run.user) == ("web", "ops", "#ops", "alice")
    kinds = [(e["type"], e["id"]) for e in seen]
    person = next(e for e in seen if "/deploy api-gateway staging" in e["html"])
    assert person["type"] == "message"
    progress_id = next(e["id"] for e in seen if e["type"] == "message" and "run #" in e["html"])
    assert ("edit", progress_id) in kinds, "the progress message is edited in place, live"
    final = [e for e in seen if e["id"] == progress_id][-1]
    assert "succeeded" in final["html"] and final["version"] > 1
    # Reloading shows the same, from the database.
    history = await bob.history("ops")
    assert any("succeeded" in m["html"] for m in history)


async def test_message_text_is_always_escaped(web: Served) -> None:
    alice = await web.browser("alice")
    await alice.post("ops", "<script>alert('x')</script> <img src=x onerror=alert(1)> *bold*")
    await web.adapter.drain()
    [mine] = [m for m in await alice.history("ops") if "alert" in m["html"]]
    assert "<script>" not in mine["html"] and "<img" not in mine["html"]
    assert "&lt;script&gt;" in mine["html"] and "<strong>bold</strong>" in mine["html"]
    page = await alice.http.get("/chat/ops")
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#39;x&#39;)" in page.text


async def test_posting_needs_the_csrf_token_and_the_same_origin(web: Served) -> None:
    alice = await web.browser("alice")
    no_token = await alice.http.post("/chat/ops/messages", json={"text": "/whoami"})
    wrong = await alice.http.post("/chat/ops/messages", json={"text": "/whoami"}, headers={"X-CSRF-Token": "nope"})
    cross = await alice.http.post(
        "/chat/ops/messages",
        json={"text": "/whoami"},
        headers={"X-CSRF-Token": alice.csrf, "Origin": "https://evil.example"},
    )
    assert (no_token.status_code, wrong.status_code, cross.status_code) == (403, 403, 403)
    for bad in ([], {"text": 5}, {"text": ""}, {"text": "x" * 5000}, {"text": "hi", "thread": "x"}):
        response = (
            await alice.post("ops", "x")
            if bad == []
            else await alice.http.post("/chat/ops/messages", json=bad, headers={"X-CSRF-Token": alice.csrf})
        )
        assert response.status_code in (202, 400), (bad, response.text)
    assert (
        await alice.http.post(
            "/chat/ops/messages",
            content=b"{not json",
            headers={"X-CSRF-Token": alice.csrf, "Content-Type": "application/json"},
        )
    ).status_code == 400
    await web.adapter.drain()
    assert runs_of(web) == []


async def test_a_user_sees_only_their_channels_and_their_own_dm(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = demo_data()
    data["channels"].append({"name": "#leads", "members": ["role:sre-lead"]})
    async with serve(tmp_path, db_url, monkeypatch, data) as web:
        alice = await web.browser("alice")
        carol = await web.browser("carol")
        page = await alice.http.get("/chat/ops")
        assert "#leads" not in page.text
        assert (await alice.http.get("/chat/leads")).status_code == 404
        assert (await alice.post("leads", "hello")).status_code == 404
        assert (await alice.http.get("/chat/dm:carol")).status_code == 404
        assert (await alice.http.get("/chat/leads/history")).status_code == 404
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            async with alice.live("leads"):
                pass
        assert "#leads" in (await carol.http.get("/chat/ops")).text
        assert (await carol.post("leads", "only leads read this")).status_code == 202


async def test_dm_with_the_bot_is_addressed_without_a_slash(web: Served) -> None:
    alice = await web.browser("alice")
    await alice.post("dm:alice", "whoami")
    await web.adapter.drain()
    history = await alice.history("dm:alice")
    assert any("alice" in m["html"] and "sre" in m["html"] for m in history if m["id"] != history[0]["id"])


async def test_production_deploy_is_approved_by_a_lead_with_the_button(web: Served) -> None:
    alice = await web.browser("alice")
    carol = await web.browser("carol")
    bob = await web.browser("bob")
    await alice.post("ops", "/deploy payments production")
    await wait_for(lambda: any("needs approval" in r.text for r in bot_messages(web)))
    ask = next(r for r in bot_messages(web) if "needs approval" in r.text)
    buttons = {b["label"]: b["action_id"] for d in ask.body["blocks"] if d["type"] == "actions" for b in d["buttons"]}
    # The requester cannot approve; the refusal is shown to her only.
    assert (await alice.click(ask.id, buttons["Approve"])).status_code == 202
    await web.adapter.drain()
    refusal = [m for m in await alice.everything("ops") if "someone else must approve" in m["html"]]
    assert refusal and "only you can see this" in refusal[0]["html"]
    assert refusal[0]["thread"] == ask.id, "the answer to a click is in the request's thread"
    assert not [m for m in await bob.everything("ops") if "someone else must approve" in m["html"]]
    # A button the message does not carry is refused before the engine sees it.
    # ... and on the record as a refusal, with its reason.
    assert (await carol.click(ask.id, "forged.action")).status_code == 400
    [rejected] = web.system.audit.search("action:action.rejected")
    assert rejected.actor == "carol" and rejected.detail == {"refused": True, "reason": "no such button"}
    assert (await carol.click(ask.id, buttons["Approve"])).status_code == 202
    await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in runs_of(web)))
    run_id = runs_of(web)[0].id
    actions = [e.action for e in web.system.audit.for_run(run_id)]
    assert "approval.approved" in actions and "run.finished" in actions
    # The settled request no longer carries its buttons: a late click is refused, on the record.
    assert (await carol.click(ask.id, buttons["Approve"])).status_code == 400
    assert [e.actor for e in web.system.audit.search("action:action.rejected")] == ["carol", "carol"]


async def test_palette_lists_only_commands_the_user_may_run(web: Served) -> None:
    bob = await web.browser("bob")
    carol = await web.browser("carol")

    async def commands(b: Any) -> dict[str, Any]:
        page = await b.http.get("/chat/ops")
        raw = re.search(r'<script type="application/json" id="commands">(.*?)</script>', page.text, re.S)
        return {c["name"]: c for c in __import__("json").loads(raw.group(1))}  # type: ignore[union-attr]

    bobs, carols = await commands(bob), await commands(carol)
    assert "deploy" in bobs, "bob may deploy to dev and staging"
    assert bobs["deploy"]["usage"].startswith("deploy <service> <env>")
    # Argument values are offered only where this person may use them here.
    assert "production" not in next(a for a in bobs["deploy"]["args"] if a["name"] == "env")["values"]
    assert "staging" in next(a for a in bobs["deploy"]["args"] if a["name"] == "env")["values"]
    alices = await commands(await web.browser("alice"))
    assert "production" in next(a for a in alices["deploy"]["args"] if a["name"] == "env")["values"]
    assert "freeze" not in bobs and "freeze" in carols


async def test_history_pages_back_with_a_cursor(web: Served) -> None:
    alice = await web.browser("alice")
    for i in range(60):
        await alice.post("ops", f"note {i}")
    page = await alice.http.get("/chat/ops")
    assert "note 59" in page.text and "note 5<" not in page.text and "Load older" in page.text
    first = await alice.history("ops")
    older = await alice.history("ops", before=first[0]["id"])
    assert [m["id"] for m in older] == sorted(m["id"] for m in older) and older[-1]["id"] < first[0]["id"]
    assert any(">note 5<" in m["html"] for m in older)
    assert (await alice.http.get("/chat/ops/history", params={"before": "abc"})).status_code == 400
    assert (await alice.http.get("/chat/ops/history", params={"after": "-1"})).status_code == 400


async def test_stored_bot_messages_keep_the_message_model(web: Served) -> None:
    alice = await web.browser("alice")
    await alice.post("ops", "/help")
    await web.adapter.drain()
    [row] = bot_messages(web)
    message = codec.decode(row.body)
    assert message.blocks and codec.encode(message) == row.body


async def test_commands_can_be_posted_over_the_websocket(web: Served) -> None:
    alice = await web.browser("alice")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.http.cookies.items())
    url = web.base.replace("http://", "ws://") + "/chat/ws?channel=dm:alice"
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        await ws.send("not json")
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(json.dumps({"type": "post", "text": "whoami"}))
        seen = [json.loads(await ws.recv()) for _ in range(3)]
        assert {e["type"] for e in seen} >= {"posted", "message"}
        assert any("sre" in e.get("html", "") for e in seen)
    evil = web.base.replace("http://", "ws://") + "/chat/ws?channel=ops"
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(evil, additional_headers={"Cookie": cookie, "Origin": "https://evil.example"}):
            pass
