"""Hostile requests to the Mattermost endpoints: a wrong token is refused before the body is
parsed, malformed bodies (clicks and dialog submissions) get a 4xx, a replayed slash command
without trigger_id runs once, and nothing reaches the engine."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fakes.mattermost import COMMAND_TOKEN, slash_command
from tests.integration.chat.test_mattermost_adapter import ALICE, mm_env
from tests.integration.chat.test_slack_hostile import JSON_VALUES

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_a_replayed_slash_command_without_trigger_id_runs_once() -> None:
    data = slash_command("/deploy", "api-gateway staging", user_id=ALICE)
    data.pop("trigger_id", None)
    body = urllib.parse.urlencode(data)
    async with mm_env() as env:
        answers = [await env.http.post(env.url + "/mattermost/command", content=body, headers=FORM) for _ in range(3)]
        await env.recorder.wait_for(1)
        await asyncio.sleep(0.3)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(env.recorder.events) == 1


async def test_a_wrong_header_token_is_refused_before_the_body_is_read() -> None:
    async with mm_env() as env:
        answer = await env.http.post(
            env.url + "/mattermost/command", content=b"\xff" * 100, headers={**FORM, "Authorization": "Token guess"}
        )
        good_token_bad_body = await env.http.post(
            env.url + "/mattermost/command",
            content=b"text=\xff\xfe",
            headers={**FORM, "Authorization": f"Token {COMMAND_TOKEN}"},
        )
    assert answer.status_code == 401
    assert good_token_bad_body.status_code == 400 and env.recorder.events == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"user_id": "u", "context": {"action_id": "a", "channel_id": "c", "sig": "s"}, "n": NaN}',
        b'{"user_id": "u", "context": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"n": ' + b"9" * 10000 + b"}",
        b'{"n": 1e999}',
        b"\xff\xfe",
    ],
)
@pytest.mark.parametrize("path", ["/mattermost/actions", "/mattermost/actions/dialog"])
async def test_malformed_button_clicks_and_dialog_submissions_get_a_4xx(body: bytes, path: str) -> None:
    async with mm_env() as env:
        answer = await env.http.post(env.url + path, content=body, headers={"Content-Type": "application/json"})
        await asyncio.sleep(0.05)
    assert 400 <= answer.status_code < 500 and env.recorder.events == []


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(st.binary(max_size=2000), JSON_VALUES.map(lambda v: json.dumps(v).encode())),
    path=st.sampled_from(["/mattermost/command", "/mattermost/actions", "/mattermost/actions/dialog"]),
)
def test_fuzzed_bodies_never_get_a_5xx_or_reach_the_engine(body: bytes, path: str) -> None:
    async def go() -> None:
        async with mm_env() as env:
            answer = await env.http.post(env.url + path, content=body, headers=FORM)
            assert answer.status_code < 500, (answer.status_code, answer.text)
            await asyncio.sleep(0.05)
            assert env.recorder.events == []

    asyncio.run(go())
