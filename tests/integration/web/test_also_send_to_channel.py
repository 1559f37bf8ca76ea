""" "Also send to channel": a thread reply shown in the thread AND in the channel, the channel
copy marked as a thread reply linking to it. Only the reply goes to the engine (a command is
not run twice); a top-level message cannot ask for it; the JSON API offers the same."""

from __future__ import annotations

import re

import httpx
from tests.integration.web.conftest import Served, wait_for

from opsroom.runs import store as run_store
from opsroom.web.sessions import create_token


async def test_a_reply_also_sent_to_the_channel(web: Served) -> None:
    alice, bob = await web.browser("alice"), await web.browser("bob")
    parent = (await alice.post("ops", "is staging slow?")).json()["id"]
    async with bob.live("ops") as seen:
        answer = await bob.post("ops", "yes — see run #1 <b>now</b>", thread=parent, also_channel=True)
        assert answer.status_code == 202, answer.text
        copy = await wait_for(lambda: next((e for e in seen if e["thread"] is None and "also-sent" in e["html"]), None))
    reply_id = answer.json()["id"]
    assert [m["id"] for m in await alice.thread("ops", parent)] == [parent, reply_id], "the reply is in the thread"
    top = await alice.history("ops")
    assert copy["id"] in [m["id"] for m in top], "and in the channel"
    assert reply_id not in [m["id"] for m in top]
    html = copy["html"]
    assert "replied to a thread" in html
    assert f'href="/chat/ops?thread={parent}#m{reply_id}"' in html and f'data-open-thread="{parent}"' in html
    assert "&lt;b&gt;now&lt;/b&gt;" in html and "<b>now" not in html, "escaped like any message"
    assert 'href="/console/runs/1">run #1</a>' in html
    assert f'data-reply="{parent}"' in html, "answering the copy answers in the thread"
    # the thread's reply count counts the reply once; the copy is no reply
    page = (await alice.http.get("/chat/ops")).text
    assert re.search(rf'data-open-thread="{parent}" data-count="1">1 reply<', page)

    # A command sent to both places runs once.
    await alice.post("ops", "/status payments", thread=parent, also_channel=True)
    await web.adapter.drain()
    await web.system.runs.drain()
    with web.system.db.read() as conn:
        assert len([r for r in run_store.list_runs(conn) if r.command == "status"]) == 1

    refused = await alice.post("ops", "top level", also_channel=True)
    assert refused.status_code == 400 and "thread" in refused.json()["error"]
    assert (await alice.post("ops", "x", thread=parent, also_channel="yes")).status_code == 400


async def test_the_api_offers_it_too(web: Served) -> None:
    token, _ = create_token(web.system.db, "alice")
    async with httpx.AsyncClient(base_url=web.base, headers={"Authorization": f"Bearer {token}"}) as api:
        parent = (await api.post("/api/channels/ops/messages", json={"text": "deploy window?"})).json()["id"]
        reply = await api.post(
            "/api/channels/ops/messages", json={"text": "after 14:00", "thread": parent, "also_channel": True}
        )
        assert reply.status_code == 201, reply.text
        top = (await api.get("/api/channels/ops/messages")).json()["messages"]
        assert any(m["text"] == "after 14:00" and m["thread"] is None for m in top)
        bad = await api.post("/api/channels/ops/messages", json={"text": "x", "also_channel": True})
        assert bad.status_code == 400
