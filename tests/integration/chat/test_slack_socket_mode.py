"""Socket Mode: the same payloads, through Bolt's socket handler — once through its request
listener directly, once over a real WebSocket from the fake."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from tests.fakes.slack import APP_TOKEN, app_mention, block_actions, event_callback, slash_command
from tests.integration.chat.slack_harness import Recorder, fake_slack, slack_config

from opsroom.chat.slack import SlackAdapter
from opsroom.core import ActionEvent, MessageEvent


async def test_request_listener_acks_and_hands_on_each_payload_once() -> None:
    recorder = Recorder(delay=1.0)
    async with fake_slack() as fake:
        adapter = SlackAdapter(slack_config(fake.base_url, mode="socket", app_token=APP_TOKEN, signing_secret=""))
        adapter._handler = recorder  # started without connecting: we drive the listener ourselves
        await adapter.client.auth_test()
        adapter.bot_user_id = "UBOT0001"
        handler = AsyncSocketModeHandler(adapter.app, APP_TOKEN)
        acks: list[SocketModeResponse] = []

        async def record(response: SocketModeResponse) -> None:
            acks.append(response)

        handler.client.send_socket_mode_response = record  # type: ignore[method-assign]
        mention = event_callback(app_mention("<@UBOT0001> deploy api staging"), event_id="EvSock")
        requests = [
            SocketModeRequest(
                type="slash_commands",
                envelope_id="env-1",
                payload=slash_command("/deploy", "api-gateway staging"),
            ),
            SocketModeRequest(type="events_api", envelope_id="env-2", payload=mention),
            # Slack redelivers over the socket with retry_attempt set
            SocketModeRequest(
                type="events_api",
                envelope_id="env-3",
                payload=mention,
                retry_attempt=1,
                retry_reason="timeout",
            ),
            SocketModeRequest(type="interactive", envelope_id="env-4", payload=block_actions("signed-id")),
        ]
        for req in requests:
            await asyncio.wait_for(handler.handle(handler.client, req), 1.0)  # acked long before the engine is done
        assert [a.envelope_id for a in acks] == ["env-1", "env-2", "env-3", "env-4"]
        events = await recorder.wait_for(3)
        await asyncio.sleep(0.2)
        await handler.close_async()
        await adapter.stop()
    assert len(events) == 3
    by_kind: dict[str, Any] = {type(e).__name__ + ("" if isinstance(e, ActionEvent) else e.text): e for e in events}
    assert isinstance(by_kind["MessageEventdeploy api-gateway staging"], MessageEvent)
    assert by_kind["MessageEventdeploy api staging"].event_id == "slack:msg:C0OPS:1515449522.000016"
    assert by_kind["ActionEvent"].action_id == "signed-id"


async def test_over_a_real_socket() -> None:
    recorder = Recorder()
    async with fake_slack() as fake:
        adapter = SlackAdapter(slack_config(fake.base_url, mode="socket", app_token=APP_TOKEN, signing_secret=""))
        assert adapter.routes() == []  # no public URL in Socket Mode
        await adapter.start(recorder)
        assert fake.socket_connected is not None
        await asyncio.wait_for(fake.socket_connected.wait(), 5)
        assert fake.of("apps.connections.open")
        await fake.push("slash_commands", slash_command("/ops", "status api"), envelope_id="e1")
        await fake.push("events_api", event_callback(app_mention("<@UBOT0001> help"), event_id="EvS"), envelope_id="e2")
        events = await recorder.wait_for(2)
        for _ in range(100):
            if len(fake.socket_acks) >= 2:
                break
            await asyncio.sleep(0.02)
        await adapter.stop()
    assert sorted(e.text for e in events if isinstance(e, MessageEvent)) == ["help", "status api"]
    assert {a["envelope_id"] for a in fake.socket_acks} == {"e1", "e2"}


async def test_messages_typed_while_the_socket_was_down_are_caught_up_once_in_order() -> None:
    recorder = Recorder()
    async with fake_slack() as fake:
        adapter = SlackAdapter(
            slack_config(fake.base_url, mode="socket", app_token=APP_TOKEN, signing_secret="", catch_up_messages=3)
        )
        await adapter.start(recorder)
        assert fake.socket_connected is not None
        await asyncio.wait_for(fake.socket_connected.wait(), 5)
        # Seen live: one message in each channel.
        for n, channel in enumerate(("C0OPS", "C0PROD")):
            live = fake.typed(channel, f"!status live-{channel}", f"1700000100.00000{n}")
            await fake.push("events_api", event_callback(live, event_id=f"EvLive{n}"), envelope_id=f"live{n}")
        await recorder.wait_for(2)
        # Typed while the socket is down: never pushed.
        gap = [
            fake.typed("C0OPS", "!deploy api staging", "1700000200.000001"),
            fake.typed("C0OPS", "<@UBOT0001> status web", "1700000200.000002"),
            fake.typed("C0OPS", "a bot said this", "1700000200.000003", bot_id="B0OTHER"),
        ]
        prod = [fake.typed("C0PROD", f"!status prod-{n}", f"1700000300.00000{n}") for n in range(5)]
        await fake.drop()
        await asyncio.wait_for(fake.socket_connected.wait(), 10)
        events = await recorder.wait_for(2 + 2 + 3)
        # Slack redelivers one of them late, under a new event id: still handled once.
        await fake.push("events_api", event_callback(gap[0], event_id="EvLate"), envelope_id="late")
        await asyncio.sleep(0.5)
        await adapter.stop()
    assert fake.socket_sessions == 2 and adapter.connections == 2
    texts = [e.text for e in events if isinstance(e, MessageEvent)]
    assert texts[:2] == ["!status live-C0OPS", "!status live-C0PROD"]
    caught = texts[2:]
    assert len(caught) == 5, caught
    assert [t for t in caught if "prod" not in t] == ["!deploy api staging", "status web"]  # in order; bots skipped
    assert [t for t in caught if "prod" in t] == [f"!status prod-{n}" for n in (2, 3, 4)]  # bounded: the last 3
    assert next(e for e in events if e.text == "status web").addressed  # type: ignore[union-attr]
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)) and f"slack:msg:C0OPS:{gap[0]['ts']}" in ids
    oldest = {c.params["channel"]: c.params["oldest"] for c in fake.of("conversations.history")}
    assert oldest == {"C0OPS": "1700000100.000000", "C0PROD": "1700000100.000001"}
    assert f"slack:msg:C0PROD:{prod[0]['ts']}" not in ids
