"""The Mattermost adapter against a local server speaking the v4 REST + WebSocket shapes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tests.fakes.chat_server import serve
from tests.fakes.mattermost import (
    BOT_ID,
    BOT_TOKEN,
    COMMAND_TOKEN,
    FakeMattermost,
    action_click,
    slash_command,
)
from tests.integration.chat.slack_harness import Recorder

from opsroom.chat.mattermost import MattermostAdapter
from opsroom.config.chat import MattermostConfig
from opsroom.core import ActionEvent, Actions, Button, Message, MessageEvent, Place, Principal, Section

ALICE = "aliceid0000000000000000000"
MALLORY = "malloryid00000000000000000"
OPS = "chanops000000000000000000a"


@dataclass
class MmEnv:
    fake: FakeMattermost
    adapter: MattermostAdapter
    recorder: Recorder
    url: str
    http: httpx.AsyncClient


@asynccontextmanager
async def mm_env(recorder: Recorder | None = None, **overrides: Any) -> AsyncIterator[MmEnv]:
    recorder = recorder or Recorder()
    fake = FakeMattermost(
        users={
            ALICE: {"id": ALICE, "username": "alice", "email": "alice@example.com"},
            MALLORY: {"id": MALLORY, "username": "mallory", "email": "mallory@example.com"},
        }
    )
    async with serve(fake.app()) as fake_url:
        values: dict[str, Any] = {
            "url": fake_url,
            "bot_token": BOT_TOKEN,
            "command_tokens": [COMMAND_TOKEN],
            "pace_seconds": 0.0,
            "reconnect_min_seconds": 0.05,
            "reconnect_max_seconds": 0.2,
        }
        values.update(overrides)
        adapter = MattermostAdapter(
            MattermostConfig(**values), signing_key=b"k" * 32, public_url="https://opsroom.example.com"
        )
        await adapter.start(recorder)
        try:
            await fake.wait_connected()
            async with (
                serve(Starlette(routes=adapter.routes())) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                yield MmEnv(fake, adapter, recorder, url, http)
        finally:
            await adapter.stop()


async def test_mention_dm_and_channel_posts_become_message_events() -> None:
    async with mm_env() as env:
        await env.fake.user_posts("@opsroom deploy api staging", user_id=ALICE, mentions=[BOT_ID], root_id="")
        await env.fake.user_posts(
            "status api",
            user_id=ALICE,
            channel_id="dmchan0000000000000000000a",
            channel_type="D",
            channel_name=f"{ALICE}__{BOT_ID}",
        )
        await env.fake.user_posts("!deploy api staging", user_id=ALICE)
        events = await env.recorder.wait_for(3)
    by_text = {e.text: e for e in events if isinstance(e, MessageEvent)}
    mention = by_text["deploy api staging"]
    assert mention.addressed and mention.sender_email == "alice@example.com" and mention.sender_name == "alice"
    assert mention.place.channel == OPS and mention.place.name == "#ops" and mention.place.thread is None
    assert mention.event_id and mention.event_id.startswith("mattermost:post:")
    dm = by_text["status api"]
    assert dm.addressed and dm.place.is_direct and dm.place.name == "dm"
    plain = by_text["!deploy api staging"]
    assert plain.addressed is False


async def test_own_system_and_bot_posts_are_ignored_and_threads_kept() -> None:
    async with mm_env(channels=[OPS]) as env:
        await env.fake.user_posts("!deploy x", user_id=BOT_ID)  # our own post
        await env.fake.user_posts("alice joined", user_id=ALICE, post_type="system_join_channel")
        await env.fake.user_posts("!deploy x", user_id=ALICE, props={"from_webhook": "true"})
        await env.fake.user_posts("!deploy x", user_id=ALICE, channel_id="otherchan00000000000000000")
        root = await env.fake.user_posts("start", user_id=MALLORY, channel_id="otherchan00000000000000000")
        await env.fake.user_posts("!status", user_id=ALICE, root_id=root["id"])
        events = await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert [(e.text, e.place.thread) for e in events if isinstance(e, MessageEvent)] == [("!status", root["id"])]


async def test_socket_drop_mid_run_reconnects_and_keeps_receiving() -> None:
    async with mm_env() as env:
        ref = await env.adapter.send(Place("mattermost", OPS), Message.plain("deploy: running", tone="running"))
        await env.fake.user_posts("@opsroom status", user_id=ALICE, mentions=[BOT_ID])
        await env.recorder.wait_for(1)
        await env.fake.drop_sockets()
        # the run goes on while the socket is down: edits are REST calls
        await env.adapter.update(ref, Message.plain("deploy: 50%", tone="running"))
        await env.fake.wait_connected(2)
        for _ in range(200):
            if env.adapter.connections >= 2:
                break
            await asyncio.sleep(0.01)
        assert env.adapter.connections >= 2
        await env.fake.user_posts("@opsroom status again", user_id=ALICE, mentions=[BOT_ID])
        events = await env.recorder.wait_for(2)
        await env.adapter.update(ref, Message.plain("deploy: succeeded", tone="success"))
    assert [e.text for e in events if isinstance(e, MessageEvent)] == ["status", "status again"]
    assert env.fake.posts[ref.message_id]["message"] == ":white_check_mark: deploy: succeeded"


async def test_posts_typed_while_the_socket_was_down_are_caught_up_once_in_order() -> None:
    async with mm_env() as env:
        await env.fake.user_posts("@opsroom status", user_id=ALICE, mentions=[BOT_ID])
        await env.recorder.wait_for(1)
        env.fake.sockets_down = True
        await env.fake.drop_sockets()
        # typed during the gap: no socket hears them
        await env.fake.user_posts("@opsroom deploy api staging", user_id=ALICE, mentions=[BOT_ID])
        await env.fake.user_posts("!status payments", user_id=ALICE)
        await env.fake.user_posts("lunch?", user_id=MALLORY)
        env.fake.sockets_down = False
        events = await env.recorder.wait_for(4, timeout=10)
        await asyncio.sleep(0.3)  # nothing more arrives: the pre-gap post is not handed on again
    texts = [e.text for e in env.recorder.events if isinstance(e, MessageEvent)]
    assert texts == ["status", "deploy api staging", "!status payments", "lunch?"], events
    assert [e.addressed for e in env.recorder.events] == [True, True, False, False]


async def test_reconnects_after_the_server_refuses_then_recovers() -> None:
    """A socket that cannot connect at all is retried with back-off, not given up on."""
    fake = FakeMattermost()
    async with serve(fake.app()) as fake_url:
        config = MattermostConfig(
            url=fake_url, bot_token=BOT_TOKEN, reconnect_min_seconds=0.05, reconnect_max_seconds=0.1
        )
        adapter = MattermostAdapter(config, signing_key=b"k")
        await adapter.start(Recorder())
        await fake.wait_connected(1)
        for _ in range(3):
            await fake.drop_sockets()
            await fake.wait_connected(fake.connections + 1)
        await adapter.stop()
    assert fake.connections == 4


async def test_slash_command_token_is_checked_and_text_handed_on() -> None:
    async with mm_env() as env:

        async def post(form: dict[str, str], **headers: str) -> httpx.Response:
            return await env.http.post(
                env.url + "/mattermost/command",
                content=urllib.parse.urlencode(form),
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            )

        started = time.monotonic()
        ok = await post(slash_command("/deploy", "api-gateway staging", user_id=ALICE, trigger_id="trig1"))
        acked_in = time.monotonic() - started
        umbrella = await post(slash_command("/ops", "rollback api", user_id=ALICE))
        header_token = await post(
            slash_command("/ops", "status", user_id=ALICE, token=""), Authorization=f"Token {COMMAND_TOKEN}"
        )
        bad = await post(slash_command("/deploy", "api-gateway production", user_id=MALLORY, token="guess"))
        missing = await post(slash_command("/deploy", "api-gateway production", user_id=MALLORY, token=""))
        again = await post(slash_command("/deploy", "api-gateway staging", user_id=ALICE, trigger_id="trig1"))
        events = await env.recorder.wait_for(3)
        await asyncio.sleep(0.2)
    assert [r.status_code for r in (ok, umbrella, header_token, bad, missing, again)] == [
        200,
        200,
        200,
        401,
        401,
        200,
    ]
    assert acked_in < 1.0
    assert sorted(e.text for e in events if isinstance(e, MessageEvent)) == [
        "deploy api-gateway staging",
        "rollback api",
        "status",
    ]
    assert all(e.addressed and e.sender_id == ALICE for e in events if isinstance(e, MessageEvent))


async def test_buttons_round_trip_and_forged_clicks_are_refused() -> None:
    async with mm_env() as env:
        message = Message(
            "approval needed",
            blocks=(
                Section("deploy to *production* needs approval"),
                Actions(
                    (
                        Button("Approve", "signed-approve-id", style="primary"),
                        Button("Deny", "signed-deny-id"),
                    )
                ),
            ),
            mentions=(Principal("alice", identities={"mattermost": ALICE}), Principal("bob")),
        )
        ref = await env.adapter.send(Place("mattermost", OPS), message)
        post = env.fake.posts[ref.message_id]
        assert post["message"].startswith("@alice @bob deploy to **production** needs approval")
        actions = post["props"]["attachments"][0]["actions"]
        assert [a["name"] for a in actions] == ["Approve", "Deny"]
        assert actions[0]["integration"]["url"] == "https://opsroom.example.com/mattermost/actions"
        context = actions[0]["integration"]["context"]

        async def click(body: dict[str, Any]) -> httpx.Response:
            return await env.http.post(env.url + "/mattermost/actions", json=body)

        good = await click(action_click(context, user_id=MALLORY, post_id=ref.message_id))
        forged = await click(
            action_click({**context, "action_id": "signed-deny-id"}, user_id=MALLORY, post_id=ref.message_id)
        )
        unsigned = await click(
            action_click({"action_id": "signed-approve-id", "channel_id": OPS}, user_id=MALLORY, post_id=ref.message_id)
        )
        moved = await click(
            action_click(context, user_id=MALLORY, post_id=ref.message_id, channel_id="otherchan00000000000000000")
        )
        garbage = await env.http.post(env.url + "/mattermost/actions", content=b"not json")
        events = await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert good.status_code == 200
    assert [r.status_code for r in (forged, unsigned, moved, garbage)] == [401, 401, 401, 401]
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ActionEvent)
    assert event.action_id == "signed-approve-id" and event.sender_id == MALLORY
    assert event.message is not None and event.message.message_id == ref.message_id


async def test_thread_replies_edits_ephemeral_and_429() -> None:
    async with mm_env() as env:
        ref = await env.adapter.send(Place("mattermost", OPS), Message.plain("deploy: queued"))
        reply = await env.adapter.send(ref.thread_place, Message.plain("step 1: pulling image"))
        env.fake.rate_limits.append(1)
        started = time.monotonic()
        late = await env.adapter.send(ref.thread_place, Message.plain("step 2"))
        waited = time.monotonic() - started
        await env.adapter.update(ref, Message.plain("deploy: succeeded"))
        # a Member-role bot may not post ephemerals: refused by the server, never raised
        await env.adapter.send(Place("mattermost", OPS), Message("Not shown.", ephemeral_to=MALLORY))
        assert env.fake.ephemerals == [] and not [p for p in env.fake.posts.values() if "Not shown" in p["message"]]
        env.fake.bot_is_admin = True
        await env.adapter.send(Place("mattermost", OPS), Message("You may not approve this.", ephemeral_to=MALLORY))
    assert env.fake.posts[reply.message_id]["root_id"] == ref.message_id
    assert env.fake.posts[late.message_id]["root_id"] == ref.message_id
    assert waited >= 1.0
    assert env.fake.posts[ref.message_id]["message"] == "deploy: succeeded"
    (eph,) = env.fake.ephemerals
    assert eph["user_id"] == MALLORY and eph["message"] == "You may not approve this."


async def test_burst_of_100_is_paced_and_none_lost() -> None:
    pace = 0.01
    async with mm_env(pace_seconds=pace) as env:
        await asyncio.gather(
            *(env.adapter.send(Place("mattermost", OPS), Message.plain(f"done {i}")) for i in range(100))
        )
    posts = env.fake.of("POST", "/posts")
    assert [json.dumps(p.body["message"]) for p in posts] == [json.dumps(f"done {i}") for i in range(100)]
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert sum(gaps) / len(gaps) >= pace * 0.95


async def test_broadcast_mentions_in_output_are_neutralised() -> None:
    async with mm_env() as env:
        ref = await env.adapter.send(Place("mattermost", OPS), Message.plain("output: @channel @all @here"))
    text = env.fake.posts[ref.message_id]["message"]
    assert "@channel" not in text and "@all" not in text and "@here" not in text


@pytest.mark.parametrize("token", ["", "   "])
async def test_no_configured_command_tokens_refuses_every_command(token: str) -> None:
    async with mm_env(command_tokens=[]) as env:
        resp = await env.http.post(
            env.url + "/mattermost/command",
            content=urllib.parse.urlencode(slash_command("/deploy", "x", user_id=ALICE, token=token)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        await asyncio.sleep(0.1)
    assert resp.status_code == 401 and env.recorder.events == []
