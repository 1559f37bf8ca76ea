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
