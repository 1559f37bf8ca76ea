"""The real Bolt app over HTTP on 127.0.0.1, fed signed requests shaped like Slack's, talking
to a fake Web API that records calls."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from slack_sdk.errors import SlackApiError
from tests.fakes.slack import app_mention, block_actions, event_callback, message, slash_command
from tests.integration.chat.slack_harness import Recorder, form, signed_headers, slack_env

from opsroom.core import ActionEvent, Message, MessageEvent, Place


async def test_slash_command_is_acked_at_once_and_handed_on_in_full() -> None:
    recorder = Recorder(delay=2.0)  # the engine takes its time; Slack must not wait for it
    async with slack_env(recorder) as env:
        started = time.monotonic()
        resp = await env.command(slash_command("/deploy", "api-gateway staging"))
        acked_in = time.monotonic() - started
        assert resp.status_code == 200
        assert resp.json()["response_type"] == "in_channel"  # the channel sees the command
        assert acked_in < 1.0
        assert recorder.events == []  # the work continues after the ack
        (event,) = await recorder.wait_for(1)
    assert isinstance(event, MessageEvent)
    assert event.text == "deploy api-gateway staging"
    assert event.addressed is True
    assert event.sender_id == "U0ALICE"
    assert event.sender_email == "alice@example.com"
    assert event.sender_name == "alice"
    assert event.place.channel == "C0OPS" and event.place.name == "#ops"
    assert event.event_id == "slack:cmd:13345224609.738474920.8088930838d88f008e0"


async def test_umbrella_command_hands_on_its_arguments() -> None:
    async with slack_env(umbrella_command="/ops") as env:
        await env.command(slash_command("/ops", "deploy api staging", trigger_id="t1"))
        await env.command(slash_command("/ops", "", trigger_id="t2"))
        await env.command(slash_command("/ops", "run x &lt;y&gt;", trigger_id="t3"))
        events = await env.recorder.wait_for(3)
    assert sorted(e.text for e in events if isinstance(e, MessageEvent)) == [
        "deploy api staging",
        "help",
        "run x <y>",
    ]


async def test_mention_is_stripped_and_the_duplicate_message_event_ignored() -> None:
    async with slack_env() as env:
        mention = app_mention("<@UBOT0001> deploy api staging", thread_ts="1515449000.000001")
        # Slack sends both an app_mention and a message event for the same message.
        same = message("<@UBOT0001> deploy api staging", ts=mention["ts"])
        assert (await env.event(event_callback(mention, event_id="Ev1"))).status_code == 200
        assert (await env.event(event_callback(same, event_id="Ev2"))).status_code == 200
        events = await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MessageEvent)
    assert event.text == "deploy api staging" and event.addressed
    assert event.place.thread == "1515449000.000001"
    assert event.message_id == mention["ts"]
    assert event.event_id == "slack:msg:C0OPS:" + mention["ts"]  # the message names the delivery


async def test_direct_message_is_addressed() -> None:
    async with slack_env() as env:
        await env.event(event_callback(message("status api", channel="D0ALICE", channel_type="im"), event_id="Ev3"))
        (event,) = await env.recorder.wait_for(1)
    assert isinstance(event, MessageEvent)
    assert event.addressed and event.place.is_direct and event.place.name == "dm"
    assert event.text == "status api"


async def test_channel_messages_are_passed_on_unaddressed_and_noise_is_ignored() -> None:
    async with slack_env(channels=["C0OPS"]) as env:
        noise = [
            message("!deploy x", user="UBOT0001", ts="1.1"),  # our own post
            message("!deploy x", bot_id="B9", ts="1.2"),  # another bot
            message("!deploy x", subtype="message_changed", ts="1.3"),  # an edit
            message("!deploy x", channel="C0PROD", ts="1.4"),  # not a configured channel
        ]
        for i, event in enumerate(noise):
            assert (await env.event(event_callback(event, event_id=f"EvN{i}"))).status_code == 200
        await env.event(event_callback(message("!deploy api staging", ts="1.5"), event_id="EvOk"))
        events = await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert [(e.text, e.addressed) for e in events if isinstance(e, MessageEvent)] == [("!deploy api staging", False)]


async def test_button_click_comes_back_with_the_signed_id() -> None:
    signed_id = "eyJrIjoiYXBwcm92YWwuYXBwcm92ZSJ9." + "x" * 300  # longer than Slack's 255 action_id cap
    async with slack_env() as env:
        resp = await env.click(block_actions(signed_id, user="U0MALLORY"))
        assert resp.status_code == 200
        (event,) = await env.recorder.wait_for(1)
        # a click on an ephemeral message has no editable message behind it
        await env.click(block_actions("id2", trigger_id="t-eph", ephemeral=True))
        # a link button (no value) is nothing for us
        link = block_actions("", trigger_id="t-link")
        del link["actions"][0]["value"]
        await env.click(link)
        events = await env.recorder.wait_for(2)
        await asyncio.sleep(0.2)
    assert isinstance(event, ActionEvent)
    assert event.action_id == signed_id
    assert event.sender_id == "U0MALLORY" and event.sender_name == "mallory"
    assert event.message is not None and event.message.message_id == "1548261231.000200"
    assert event.place.channel == "C0OPS"
    assert event.event_id and event.event_id.startswith("slack:action:")
    assert len(events) == 2
    ephemeral = events[1]
    assert isinstance(ephemeral, ActionEvent) and ephemeral.action_id == "id2" and ephemeral.message is None


@pytest.mark.parametrize(
    "case",
    [
        "tampered body",
        "stale timestamp",
        "missing headers",
        "wrong secret",
        "signature of another body",
        "bad signature format",
    ],
)
async def test_unverifiable_requests_get_401_and_nothing_happens(case: str) -> None:
    body = form(slash_command("/deploy", "api-gateway production"))
    ct = "application/x-www-form-urlencoded"
    headers = signed_headers(body, content_type=ct)
    if case == "tampered body":
        body = body.replace("production", "staging")
    elif case == "stale timestamp":
        headers = signed_headers(body, content_type=ct, timestamp=int(time.time()) - 6 * 60)
    elif case == "missing headers":
        headers = {"Content-Type": ct}
    elif case == "wrong secret":
        headers = signed_headers(body, content_type=ct, secret="not-the-secret")
    elif case == "signature of another body":
        headers = signed_headers(form(slash_command("/status", "")), content_type=ct)
    elif case == "bad signature format":
        headers["X-Slack-Signature"] = "v0=zz"
    async with slack_env() as env:
        calls_before = len(env.fake.calls)
        for path in ("/slack/commands", "/slack/events", "/slack/interactions"):
            resp = await env.post(path, body, headers)
            assert resp.status_code == 401, path
        await asyncio.sleep(0.2)
        assert env.recorder.events == []
        assert len(env.fake.calls) == calls_before  # not even a users.info lookup


async def test_url_verification_needs_a_signature_too() -> None:
    challenge = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    async with slack_env() as env:
        ok = await env.post("/slack/events", challenge)
        forged = await env.post("/slack/events", challenge, {"Content-Type": "application/json"})
    assert ok.status_code == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in ok.text
    assert forged.status_code == 401


async def test_the_same_event_delivered_three_times_is_handed_on_once() -> None:
    payload = event_callback(app_mention("<@UBOT0001> deploy api staging"), event_id="EvDUP")
    async with slack_env() as env:
        body = json.dumps(payload)
        first = await env.post("/slack/events", body, signed_headers(body, timestamp=int(time.time()) - 2))
        retry1 = await env.post(
            "/slack/events",
            body,
            signed_headers(body, timestamp=int(time.time()) - 1)
            | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        retry2 = await env.post(
            "/slack/events",
            body,
            signed_headers(body) | {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"},
        )
        await env.recorder.wait_for(1)
        await asyncio.sleep(0.3)
    assert [r.status_code for r in (first, retry1, retry2)] == [200, 200, 200]
    assert len(env.recorder.events) == 1
    assert env.recorder.events[0].event_id == "slack:msg:C0OPS:1515449522.000016"


async def test_a_retry_this_process_never_saw_still_reaches_the_engine() -> None:
    """After a restart the first delivery may have been lost with the old process; the
    engine's durable processed_events check decides, so the retry must get through."""
    payload = event_callback(app_mention("<@UBOT0001> status"), event_id="EvLOST")
    async with slack_env() as env:
        await env.event(payload, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
        events = await env.recorder.wait_for(1)
    assert [e.event_id for e in events] == ["slack:msg:C0OPS:1515449522.000016"]


async def test_requests_before_start_are_refused_without_work() -> None:
    from starlette.applications import Starlette
    from tests.fakes.chat_server import serve
    from tests.integration.chat.slack_harness import fake_slack, slack_config

    from opsroom.chat.slack import SlackAdapter

    async with fake_slack() as fake:
        adapter = SlackAdapter(slack_config(fake.base_url))
        async with serve(Starlette(routes=adapter.routes())) as url:
            import httpx

            body = form(slash_command("/deploy", "x"))
            async with httpx.AsyncClient() as http:
                resp = await http.post(
                    url + "/slack/commands",
                    content=body,
                    headers=signed_headers(body, content_type="application/x-www-form-urlencoded"),
                )
    assert resp.status_code == 503


async def test_a_run_that_starts_later_still_reaches_a_private_channel_through_its_command() -> None:
    """A queued run starts outside the command's handling: its posts still find the channel's
    latest usable response_url; a private answer never borrows someone else's."""
    async with slack_env() as env:
        env.fake.private.add("G0SECRET")
        url = env.fake.response_url("cmd-secret", "U0ALICE")
        await env.command(
            slash_command("/deploy", "api staging", channel="G0SECRET", channel_name="privategroup", response_url=url)
        )
        await env.recorder.wait_for(1)
        ref = await env.adapter.send(Place("slack", "G0SECRET"), Message.plain("run #9 succeeded"))
        with pytest.raises(SlackApiError):
            await env.adapter.send(Place("slack", "G0SECRET"), Message("for mallory", ephemeral_to="U0MALLORY"))
    [shown] = env.fake.responses
    assert shown["response_type"] == "in_channel" and "run #9 succeeded" in shown["text"]
    assert ref.message_id.startswith("responded:")
