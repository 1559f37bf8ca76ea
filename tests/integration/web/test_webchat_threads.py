"""The web chat as people expect it (issue 13), over real HTTP: replies live in their thread,
button-started runs and approval outcomes land under their parent, approvers are named, told
by DM and counted, a denial needs a reason, and errors are answered to the asker only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.integration.web.conftest import Served, demo_data, serve, wait_for
from tests.integration.web.test_webchat_flow import bot_messages, runs_of

from opsroom.chat.web import codec
from opsroom.core import Actions, Button, Message, RunState, Section


def buttons_of(row: Any) -> dict[str, str]:
    return {b["label"]: b["action_id"] for d in row.body["blocks"] if d["type"] == "actions" for b in d["buttons"]}


async def test_replies_are_drawn_in_their_thread_not_in_the_channel(web: Served) -> None:
    alice, bob = await web.browser("alice"), await web.browser("bob")
    parent = (await alice.post("ops", "is staging slow for anyone?")).json()["id"]
    await alice.post("ops", "unrelated note")
    async with bob.live("ops") as seen:
        assert (await bob.post("ops", "yes, since 10:00", thread=parent)).status_code == 202
        reply = await wait_for(lambda: next((e for e in seen if "since 10:00" in e["html"]), None))
    assert reply["thread"] == parent and reply["parent_replies"] == 1, "the channel updates the parent's count"
    top = [m["id"] for m in await alice.history("ops")]
    assert parent in top and reply["id"] not in top, "the channel view shows top-level messages only"
    assert [m["id"] for m in await alice.thread("ops", parent)] == [parent, reply["id"]]
    page = (await alice.http.get("/chat/ops")).text
    assert re.search(rf'data-open-thread="{parent}" data-count="1">1 reply<', page)
    assert "since 10:00" not in page, "a reply is not drawn in the channel"
    # A reply to a reply joins the same thread; a thread of another channel is not there.
    await alice.post("ops", "thanks", thread=reply["id"])
    await web.adapter.drain()
    assert len(await alice.thread("ops", parent)) == 3
    assert (await alice.http.get(f"/chat/war-room/thread/{parent}")).status_code == 404
    # Every message has a permalink that opens its thread.
    assert f'href="/chat/ops?thread={parent}#m{reply["id"]}"' in (await alice.thread("ops", parent))[1]["html"]


async def test_a_button_started_run_reports_in_the_thread_of_the_message_with_the_button(web: Served) -> None:
    alice = await web.browser("alice")
    signer = web.system.engine.signer
    card = Message(
        "payments latency high",
        (
            Section("🔥 payments latency high"),
            Actions((Button("Status", signer.mint("command.run", {"text": "status api-gateway"}, single_use=False)),)),
        ),
        "warning",
    )
    ref = await web.adapter.send(web.adapter.channels.place("ops"), card)
    await alice.post("ops", "someone look at this")  # the latest top-level message is not the card
    await web.adapter.drain()
    [row] = [r for r in bot_messages(web) if r.id == int(ref.message_id)]
    assert (await alice.click(row.id, buttons_of(row)["Status"])).status_code == 202
    await web.adapter.drain()
    await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in runs_of(web)))
    [run] = runs_of(web)
    assert run.thread == ref.message_id, "the run belongs to the card's thread"
    output = [m for m in await alice.thread("ops", row.id) if "run #" in m["html"]]
    assert output and output[0]["thread"] == row.id
    assert not [m for m in await alice.history("ops") if "run #" in m["html"]], "nothing lands below the card"


async def test_approvers_are_named_told_and_counted_and_the_request_settles_once(web: Served) -> None:
    alice, carol, bob = await web.browser("alice"), await web.browser("carol"), await web.browser("bob")
    assert (await carol.http.get("/console/approvals/count")).json() == {"count": 0}
    await alice.post("ops", "/deploy payments production")
    ask = await wait_for(lambda: next((r for r in bot_messages(web) if "needs approval" in r.text), None))
    assert ask.thread is None and codec.decode(ask.body).mentions[0].name == "carol"
    assert '<span class="mention">@carol</span>' in (await carol.history("ops"))[-1]["html"]
    # Carol gets a direct message that links to the request; the requester and bob do not.
    dm = await wait_for(lambda: [r for r in bot_messages(web, "dm:carol") if "asks for your approval" in r.text])
    assert "run #1" in dm[0].text and not bot_messages(web, "dm:alice") and not bot_messages(web, "dm:bob")
    [carols_dm] = [m for m in await carol.history("dm:carol") if "asks for your approval" in m["html"]]
    assert f'href="/chat/ops?thread={ask.id}#m{ask.id}"' in carols_dm["html"], "the DM links to the request"
    # The Approvals badge counts it for carol only, on every page.
    assert (await carol.http.get("/console/approvals/count")).json() == {"count": 1}
    assert (await alice.http.get("/console/approvals/count")).json() == {"count": 0}
    assert re.search(r'id="approvals-count"[^>]*>1<', (await carol.http.get("/console/runs")).text)
    # Carol approves: the request is edited into the outcome (one message, one icon) and the
    # run's progress goes in its thread.
    assert (await carol.click(ask.id, buttons_of(ask)["Approve"])).status_code == 202
    await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in runs_of(web)))
    await web.adapter.drain()
    [settled] = [m for m in await bob.history("ops") if m["id"] == ask.id]
    assert "approved by carol" in settled["html"] and settled["html"].count("✅") == 1
    assert not [m for m in await bob.history("ops") if m["id"] != ask.id and "approved by" in m["html"]]
    progress = await wait_for(lambda: _succeeded_in(bob, ask.id))
    assert progress["thread"] == ask.id
    assert (await carol.http.get("/console/approvals/count")).json() == {"count": 0}


async def _succeeded_in(browser: Any, parent: int) -> dict[str, Any] | None:
    return next((m for m in await browser.thread("ops", parent) if "succeeded" in m["html"]), None)


async def test_deny_needs_a_reason_which_the_requester_reads_and_the_audit_keeps(web: Served) -> None:
    alice, carol = await web.browser("alice"), await web.browser("carol")
    await alice.post("ops", "/deploy payments production")
    ask = await wait_for(lambda: next((r for r in bot_messages(web) if "needs approval" in r.text), None))
    deny = buttons_of(ask)["Deny"]
    assert 'data-asks="Why deny?' in (await carol.history("ops"))[-1]["html"], "the browser asks for a reason"
    assert (await carol.click(ask.id, deny)).status_code == 202  # no reason: refused, nothing changes
    await web.adapter.drain()
    assert runs_of(web)[0].state == RunState.AWAITING_APPROVAL
    asked = [m for m in await carol.thread("ops", ask.id) if "Say why you deny" in m["html"]]
    assert asked and "only you can see this" in asked[0]["html"]
    assert (await carol.click(ask.id, deny, reason="  not during   the sale ")).status_code == 202
    await wait_for(lambda: runs_of(web)[0].state == RunState.DENIED)
    await web.adapter.drain()
    [settled] = [m for m in await alice.history("ops") if m["id"] == ask.id]
    assert "denied by carol: not during the sale" in settled["html"] and settled["html"].count("⛔") == 1
    assert not [m for m in await alice.everything("ops") if m["id"] != ask.id and "denied by" in m["html"]]
    [denied] = web.system.audit.search("action:approval.denied")
    assert "not during the sale" in denied.summary
    # The console's Deny needs a reason too.
    await alice.post("ops", "/deploy payments production")
    await wait_for(lambda: len(runs_of(web)) == 2)
    await web.adapter.drain()
    run_id = max(r.id for r in runs_of(web))
    form = await carol.http.post(f"/console/approvals/{run_id}/deny", data={"csrf": carol.csrf, "reason": " "})
    assert "Say%20why" in form.headers["location"]
    assert next(r for r in runs_of(web) if r.id == run_id).state == RunState.AWAITING_APPROVAL


async def test_errors_denials_and_help_are_answered_to_the_asker_only(web: Served) -> None:
    alice, bob = await web.browser("alice"), await web.browser("bob")
    await bob.post("ops", "/deploy payments production")  # bob may not deploy to production
    await bob.post("ops", "/deplyo api-gateway staging")  # a typo
    await bob.post("ops", "help")  # a bare help in a channel is for the bot
    await web.adapter.drain()
    bobs = [m["html"] for m in await bob.history("ops")]
    assert any("may not run deploy" in h and "only you can see this" in h for h in bobs)
    assert any("did you mean" in h.lower() and "only you can see this" in h for h in bobs)
    assert "Commands you can run" in bobs[-1] and "only you can see this" in bobs[-1]
    alices = [m["html"] for m in await alice.history("ops")]
    assert not [h for h in alices if "may not run" in h or "did you mean" in h.lower() or "Commands you can" in h]
    assert sum("/deploy payments production" in h for h in alices) == 1, "alice sees what bob typed, not the answer"


async def test_a_channel_can_answer_errors_in_public(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = demo_data()
    data["channels"][0]["private_answers"] = False
    async with serve(tmp_path, db_url, monkeypatch, data) as web:
        alice, bob = await web.browser("alice"), await web.browser("bob")
        await bob.post("ops", "/deplyo api-gateway staging")
        await web.adapter.drain()
        assert any("did you mean" in m["html"].lower() for m in await alice.history("ops"))
