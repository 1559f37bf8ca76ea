"""End to end: the real engine with the bundled demo config and the Mattermost adapter, mounted
in the opsroom web app on 127.0.0.1, against the fake Mattermost server. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.chat_server import serve
from tests.fakes.mattermost import (
    BOT_ID,
    BOT_TOKEN,
    COMMAND_TOKEN,
    FakeMattermost,
    action_click,
    slash_command,
)
from tests.support.system import demo_data, make_system

from opsroom.app import System
from opsroom.chat.mattermost import MattermostAdapter
from opsroom.config.chat import MattermostConfig
from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.web.app import build_app

ALICE = "aliceid0000000000000000000"
MALLORY = "malloryid00000000000000000"
OPS = "chanops000000000000000000a"


def demo_with_mattermost_users() -> dict[str, Any]:
    data = demo_data()
    data["users"]["alice"]["identities"]["mattermost"] = ALICE
    data["commands"]["sleepy"] = {
        "summary": "sleeps",
        "timeout": "30s",
        "args": [{"name": "seconds", "type": "int", "required": False, "default": 20}],
        "runner": {"type": "python", "callable": "tests.support.commands:sleepy"},
    }
    data["policy"]["rules"].append({"id": "all-sleep", "allow": ["sleepy"], "users": ["*"]})
    return data


@dataclass
class Live:
    system: System
    fake: FakeMattermost
    url: str
    http: httpx.AsyncClient

    async def command(
        self, user: str, command: str, text: str, *, channel_id: str = OPS, channel_name: str = "ops", root_id: str = ""
    ) -> httpx.Response:
        url = self.fake.response_url(user, channel_id, root_id)
        form = slash_command(
            command,
            text,
            user_id=user,
            channel_id=channel_id,
            channel_name=channel_name,
            root_id=root_id,
            response_url=url,
        )
        return await self.http.post(
            self.url + "/mattermost/command",
            content=urllib.parse.urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def runs(self) -> list[run_store.RunRow]:
        with self.system.db.read() as conn:
            return run_store.list_runs(conn, limit=100)

    async def until(self, check: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def live_system(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    data: dict[str, Any] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Live]:
    fake = FakeMattermost(
        users={
            ALICE: {"id": ALICE, "username": "alice", "email": "alice@example.com"},
            MALLORY: {"id": MALLORY, "username": "mallory", "email": "mallory@example.com"},
            **(users or {}),
        }
    )
    async with serve(fake.app()) as fake_url:
        fake.base_url = fake_url
        config = MattermostConfig(url=fake_url, bot_token=BOT_TOKEN, command_tokens=[COMMAND_TOKEN], pace_seconds=0.0)
        adapter = MattermostAdapter(config, signing_key=b"test-key", public_url="http://127.0.0.1")
        system, _ = make_system(
            tmp_path,
            db_url,
            data or demo_with_mattermost_users(),
            adapter=adapter,  # type: ignore[arg-type]
            monkeypatch=monkeypatch,
        )
        await system.start()
        try:
            await fake.wait_connected()
            async with (
                serve(build_app(system, manage_lifecycle=False)) as url,
                httpx.AsyncClient(timeout=10) as http,
            ):
                yield Live(system, fake, url, http)
        finally:
            await system.stop()
            system.db.dispose()


async def test_mention_runs_a_deploy_with_progress_edited_in_place(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        await live.fake.user_posts("@opsroom deploy api-gateway staging", user_id=ALICE, mentions=[BOT_ID])
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in p["message"] for p in live.fake.posts.values()))
    [run] = live.runs()
    assert run.user == "alice"
    patches = [c for c in live.fake.calls if c.method == "PUT"]
    assert patches and len({c.path for c in patches}) == 1, "one progress post, edited in place"


async def start_sleepy(live: Live) -> dict[str, Any]:
    """Alice starts a long run by slash command; returns its progress post (with Cancel)."""
    started = time.monotonic()
    resp = await live.command(ALICE, "/sleepy", "20")
    assert resp.status_code == 200 and time.monotonic() - started < 1.0

    def progress() -> dict[str, Any] | None:
        return next(
            (p for p in live.fake.posts.values() if (p["props"].get("attachments") or [{}])[0].get("actions")),
            None,
        )

    await live.until(lambda: progress() is not None)
    post = progress()
    assert post is not None
    return post


def cancel_context(post: dict[str, Any]) -> dict[str, Any]:
    [action] = post["props"]["attachments"][0]["actions"]
    assert action["name"] == "Cancel"
    return action["integration"]["context"]  # type: ignore[no-any-return]


async def test_cancel_button_is_refused_for_someone_not_allowed_and_forged_clicks_bounce(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        post = await start_sleepy(live)
        context = cancel_context(post)
        forged = await live.http.post(
            live.url + "/mattermost/actions",
            json=action_click({**context, "sig": "0" * 64}, user_id=ALICE, post_id=post["id"]),
        )
        assert forged.status_code == 401
        started = time.monotonic()
        refused = await live.http.post(
            live.url + "/mattermost/actions", json=action_click(context, user_id=MALLORY, post_id=post["id"])
        )
        answered_in = time.monotonic() - started
        assert refused.status_code == 200
        print(f"refused click answered with its ephemeral_text in {answered_in * 1000:.0f} ms")
        # the bot has the Member role: the refusal rides on the click's answer, to mallory only
        assert "may not cancel" in refused.json()["ephemeral_text"]
        assert not [p for p in live.fake.posts.values() if "went wrong" in p["message"] or "may not" in p["message"]]
        run = live.runs()[0]
        assert run.state == RunState.RUNNING
        assert any(e.action == "cancel.denied" for e in live.system.audit.for_run(run.id))
        live.system.runs.cancel(run.id, "test")
        await live.system.runs.drain()


async def test_cancel_button_is_honoured_for_the_owner(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        post = await start_sleepy(live)
        allowed = await live.http.post(
            live.url + "/mattermost/actions",
            json=action_click(cancel_context(post), user_id=ALICE, post_id=post["id"]),
        )
        assert allowed.status_code == 200
        await live.until(lambda: live.runs()[0].state == RunState.CANCELLED)
        await live.system.runs.drain()
        await live.until(lambda: "cancelled" in live.fake.posts[post["id"]]["message"])
