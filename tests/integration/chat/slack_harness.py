"""Shared set-up for the Slack integration tests: the fake Web API, the real Bolt app served
over HTTP on 127.0.0.1, requests signed with the SDK's own signature helper."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from tests.fakes.chat_server import serve
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack

from opsroom.chat.slack import SlackAdapter
from opsroom.config.chat import SlackConfig
from opsroom.core import Inbound

USERS = {
    "U0ALICE": {
        "id": "U0ALICE",
        "name": "alice",
        "real_name": "Alice Adams",
        "profile": {"display_name": "alice", "email": "alice@example.com"},
    },
    "U0CAROL": {
        "id": "U0CAROL",
        "name": "carol",
        "real_name": "Carol Chen",
        "profile": {"display_name": "carol", "email": "carol@example.com"},
    },
    "U0MALLORY": {
        "id": "U0MALLORY",
        "name": "mallory",
        "real_name": "Mallory",
        "profile": {"display_name": "mallory", "email": "mallory@example.com"},
    },
}


@dataclass
class Recorder:
    """The engine's place: records what the adapter hands on; optionally slow."""

    events: list[Inbound] = field(default_factory=list)
    delay: float = 0.0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, event: Inbound) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Inbound]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return self.events


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


def form(data: dict[str, str]) -> str:
    return urllib.parse.urlencode(data)


def interaction(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


@dataclass
class SlackEnv:
    fake: FakeSlack
    adapter: SlackAdapter
    recorder: Recorder
    url: str
    http: httpx.AsyncClient

    async def post(
        self,
        path: str,
        body: str,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        if headers is None:
            headers = signed_headers(body, content_type=content_type)
        return await self.http.post(self.url + path, content=body.encode(), headers=headers)

    async def command(self, data: dict[str, str]) -> httpx.Response:
        body = form(data)
        return await self.post("/slack/commands", body, content_type="application/x-www-form-urlencoded")

    async def event(self, payload: dict[str, Any], **extra_headers: str) -> httpx.Response:
        body = json.dumps(payload)
        headers = signed_headers(body) | extra_headers
        return await self.post("/slack/events", body, headers)

    async def click(self, payload: dict[str, Any]) -> httpx.Response:
        body = interaction(payload)
        return await self.post("/slack/interactions", body, content_type="application/x-www-form-urlencoded")


def slack_config(fake_url: str, **overrides: Any) -> SlackConfig:
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "base_url": fake_url + "/api/",
        "pace_seconds": 0.0,
    }
    values.update(overrides)
    return SlackConfig(**values)


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users=dict(USERS), channels={"C0OPS": "ops", "C0PROD": "prod"})
    async with serve(fake.app()) as fake_url:
        fake.base_url = fake_url
        yield fake


@asynccontextmanager
async def slack_env(recorder: Recorder | None = None, **overrides: Any) -> AsyncIterator[SlackEnv]:
    """The fake Web API, a started adapter and its routes served on 127.0.0.1."""
    recorder = recorder or Recorder()
    async with fake_slack() as fake:
        adapter = SlackAdapter(slack_config(fake.base_url, **overrides))
        await adapter.start(recorder)
        try:
            async with (
                serve(Starlette(routes=adapter.routes())) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                yield SlackEnv(fake, adapter, recorder, url, http)
        finally:
            await adapter.stop()
