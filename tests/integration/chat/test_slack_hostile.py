"""Hostile requests to the Slack endpoints: authenticated before anything parses them, replays
refused, malformed bodies a 4xx, and nothing handed to the engine or sent to Slack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fakes.slack import SIGNING_SECRET, app_mention, event_callback, slash_command
from tests.integration.chat.slack_harness import form, signed_headers, slack_env

FORM = "application/x-www-form-urlencoded"
PATHS = ("/slack/commands", "/slack/events", "/slack/interactions")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=30,
)


def sign_bytes(body: bytes, content_type: str) -> dict[str, str]:
    """Slack's signature over exact bytes (the SDK's helper only signs text)."""
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


async def test_a_replayed_signed_request_is_refused_and_runs_once() -> None:
    body = form(slash_command("/deploy", "api-gateway staging"))
    headers = signed_headers(body, content_type=FORM)
    async with slack_env() as env:
        first = await env.post("/slack/commands", body, headers)
        again = await env.post("/slack/commands", body, headers)
        await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert first.status_code == 200
    assert again.status_code == 409 and again.headers["X-Slack-No-Retry"] == "1"
    assert len(env.recorder.events) == 1


async def test_a_slash_command_without_trigger_id_resent_with_a_new_signature_has_one_delivery_id() -> None:
    """Re-signed (the attacker does not have the secret, but a proxy or a retry could resend):
    the delivery id comes from the body, so the engine's durable dedup sees the same delivery."""
    data = slash_command("/deploy", "api-gateway staging")
    del data["trigger_id"]
    body = form(data)
    async with slack_env() as env:
        first = await env.post(
            "/slack/commands", body, signed_headers(body, content_type=FORM, timestamp=int(time.time()) - 1)
        )
        second = await env.post("/slack/commands", body, signed_headers(body, content_type=FORM))
        await env.recorder.wait_for(1)
        await asyncio.sleep(0.2)
    assert first.status_code == second.status_code == 200
    assert len(env.recorder.events) == 1  # the second is the same delivery: dropped before the engine
    assert env.recorder.events[0].event_id.startswith("slack:cmd:")


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "1e3", "12a", "", "-1", "1700000000.5"])
async def test_non_numeric_timestamps_get_401(stamp: str) -> None:
    body = json.dumps(event_callback(app_mention("<@UBOT0001> status")))
    headers = signed_headers(body)
    headers["X-Slack-Request-Timestamp"] = stamp
    async with slack_env() as env:
        responses = [await env.post(path, body, headers) for path in PATHS]
        await asyncio.sleep(0.1)
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert env.recorder.events == []


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"[" * 5000 + b"]" * 5000,
        b'{"type": "event_callback", "event": {"n": 1e999}}',
        b'{"type": "event_callback", "n": NaN}',
        b'{"type": "event_callback", "n": ' + b"9" * 5000 + b"}",
        b"{not json",
        b"payload=%7B%22a%22%3A" + b"%5B" * 3000,
        b"payload=%FF%FE",
    ],
)
async def test_signed_but_malformed_bodies_get_400_and_nothing_happens(body: bytes) -> None:
    async with slack_env() as env:
        calls = len(env.fake.calls)
        for path, ct in (("/slack/events", "application/json"), ("/slack/interactions", FORM)):
            response = await env.http.post(env.url + path, content=body, headers=sign_bytes(body, ct))
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        await asyncio.sleep(0.1)
        assert env.recorder.events == [] and len(env.fake.calls) == calls


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=500).map(str.encode),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    ),
    path=st.sampled_from(PATHS),
    signed=st.booleans(),
)
def test_fuzzed_bodies_never_get_a_5xx_or_reach_the_engine(body: bytes, path: str, signed: bool) -> None:
    async def go() -> None:
        async with slack_env() as env:
            headers = sign_bytes(body, "application/json" if path == "/slack/events" else FORM)
            if not signed:
                headers["X-Slack-Signature"] = "v0=00"
            response = await env.http.post(env.url + path, content=body, headers=headers)
            assert response.status_code < 500, (response.status_code, response.text)
            if not signed:
                assert response.status_code == 401
            await asyncio.sleep(0.05)
            # Random bytes are never a command Slack would send: nothing reaches the engine.
            assert env.recorder.events == []

    asyncio.run(go())
