"""End to end: the real engine with the bundled demo config, the Slack adapter mounted in the
opsroom web app on 127.0.0.1, signed requests in, the fake Web API recording what users see.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.chat_server import serve
from tests.fakes.slack import FakeSlack, app_mention, block_actions, event_callback, slash_command
from tests.integration.chat.slack_harness import fake_slack, form, interaction, signed_headers, slack_config
from tests.support.system import demo_data, make_system

from opsroom.app import System
from opsroom.chat.slack import SlackAdapter
from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.web.app import build_app


def demo_with_slack_users() -> dict[str, Any]:
    data = demo_data()
    # alice is mapped by her Slack id; bob only by email (users.info); mallory is unknown.
    data["users"]["alice"]["identities"]["slack"] = "U0ALICE"
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
    fake: FakeSlack
    url: str
    http: httpx.AsyncClient

    async def command(
        self, user: str, command: str, text: str, trigger: str, *, channel: str = "C0OPS", channel_name: str = "ops"
    ) -> httpx.Response:
        body = form(
            slash_command(
                command,
                text,
                user=user,
                trigger_id=trigger,
                channel=channel,
                channel_name=channel_name,
                response_url=self.fake.response_url(trigger, user),
            )
        )
        return await self.http.post(
            self.url + "/slack/commands",
            content=body,
            headers=signed_headers(body, content_type="application/x-www-form-urlencoded"),
        )

    async def click(
        self,
        user: str,
        value: str,
        message_ts: str,
        trigger: str,
        *,
        channel: str = "C0OPS",
        response_url_uses: int = 5,
    ) -> httpx.Response:
        url = self.fake.response_url(trigger, user)
        self.fake.response_urls[trigger] = response_url_uses
        body = interaction(
            block_actions(
                value, user=user, message_ts=message_ts, trigger_id=trigger, channel=channel, response_url=url
            )
        )
        return await self.http.post(
            self.url + "/slack/interactions",
            content=body,
            headers=signed_headers(body, content_type="application/x-www-form-urlencoded"),
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
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[Live]:
    adapter = SlackAdapter(slack_config(fake.base_url))
    system, _ = make_system(
        tmp_path,
        db_url,
        demo_with_slack_users(),
        adapter=adapter,  # type: ignore[arg-type]
        monkeypatch=monkeypatch,
    )
    await system.start()
    try:
        app = build_app(system, manage_lifecycle=False)
        async with serve(app) as url, httpx.AsyncClient(timeout=10) as http:
            yield Live(system, fake, url, http)
    finally:
        await system.stop()
        system.db.dispose()


async def test_deploy_from_a_slash_command_acks_fast_edits_progress_and_ends_with_success(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        started = time.monotonic()
        resp = await live.command("U0ALICE", "/deploy", "api-gateway staging", "trig-deploy")
        acked_in = time.monotonic() - started
        assert resp.status_code == 200 and acked_in < 1.0
        await live.until(lambda: live.runs() and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in m["text"] for m in fake.messages.values()))
    [run] = live.runs()
    assert run.user == "alice" and run.args["service"] == "api-gateway" and run.args["env"] == "staging"
    [progress_post] = [c for c in fake.of("chat.postMessage") if "running" in c.params["text"]]
    assert progress_post.params["channel"] == "C0OPS"
    updates = fake.of("chat.update")
    assert updates, "the progress message is edited in place"
    assert all(u.params["ts"] == updates[0].params["ts"] for u in updates)
    final = fake.messages[("C0OPS", updates[0].params["ts"])]
    assert "succeeded" in final["text"]
    shown = " ".join(b.get("text", {}).get("text", "") for b in final["blocks"] if b["type"] == "section")
    assert "exit 0" in str(final["blocks"]) and "run #" in shown
    print(f"slash command acked in {acked_in * 1000:.0f} ms; {len(updates)} chat.update calls")


async def start_sleepy(live: Live, fake: FakeSlack, trigger: str) -> tuple[str, str]:
    """Alice starts a long run; returns (progress message ts, its Cancel button's value)."""
    before = len(fake.of("chat.postMessage"))
    await live.command("U0ALICE", "/sleepy", "20", trigger)

    def with_buttons() -> list[Any]:
        return [
            c
            for c in fake.of("chat.postMessage")[before:]
            if any(b["type"] == "actions" for b in c.params.get("blocks", []))
        ]

    await live.until(lambda: bool(with_buttons()))
    post = with_buttons()[0]
    ts = next(key[1] for key, m in fake.messages.items() if m["text"] == post.params["text"])
    cancel = next(b for b in post.params["blocks"] if b["type"] == "actions")["elements"][0]
    assert cancel["text"]["text"] == "Cancel"
    return ts, cancel["value"]


async def test_cancel_button_is_refused_for_someone_not_allowed(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        ts, cancel = await start_sleepy(live, fake, "trig-sleepy")
        refused = await live.click("U0MALLORY", cancel, ts, "trig-click-1")
        assert refused.status_code == 200
        await live.until(lambda: bool(fake.seen_by("U0MALLORY")))
        [denial] = fake.seen_by("U0MALLORY")
        assert "may not cancel" in denial  # shown to the clicker, and to nobody else
        assert not fake.seen_by("U0ALICE") and not [m for m in fake.messages.values() if "may not" in m["text"]]
        run = live.runs()[0]
        assert run.state == RunState.RUNNING
        assert any(e.action == "cancel.denied" for e in live.system.audit.for_run(run.id))
        live.system.runs.cancel(run.id, "test")
        await live.system.runs.drain()


async def test_cancel_button_is_honoured_for_the_owner(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        ts, cancel = await start_sleepy(live, fake, "trig-sleepy")
        allowed = await live.click("U0ALICE", cancel, ts, "trig-click-2")
        assert allowed.status_code == 200
        await live.until(lambda: live.runs()[0].state == RunState.CANCELLED)
        await live.system.runs.drain()
        await live.until(lambda: "cancelled" in fake.messages[("C0OPS", ts)]["text"])


async def test_a_refused_click_does_not_burn_the_button_for_the_owner(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        ts, cancel = await start_sleepy(live, fake, "trig-sleepy")
        await live.click("U0MALLORY", cancel, ts, "trig-click-1")
        await live.until(lambda: bool(fake.seen_by("U0MALLORY")))
        await live.click("U0ALICE", cancel, ts, "trig-click-2")
        try:
            # Alice's click is acknowledged ("Cancelling run #1…") before the run has stopped;
            # anything else she is shown is a refusal, and fails the test at once.
            await live.until(
                lambda: (
                    live.runs()[0].state == RunState.CANCELLED
                    or any("Cancelling" not in text for text in fake.seen_by("U0ALICE"))
                ),
                timeout=10,
            )
            assert live.runs()[0].state == RunState.CANCELLED, fake.seen_by("U0ALICE")
        finally:
            live.system.runs.cancel(live.runs()[0].id, "test")
            await live.system.runs.drain()


async def test_the_same_mention_delivered_three_times_runs_once_also_after_a_restart(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = event_callback(app_mention("<@UBOT0001> deploy api-gateway staging"), event_id="EvE2E")

    async def deliver(live: Live, retry: int) -> int:
        body = json.dumps(payload)
        # Slack signs each retry anew; the same signature twice would be a replay (409).
        headers = signed_headers(body, timestamp=int(time.time()) - 3 + retry)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return (await live.http.post(live.url + "/slack/events", content=body, headers=headers)).status_code

    async with fake_slack() as fake:
        async with live_system(tmp_path, db_url, monkeypatch, fake) as live:
            assert [await deliver(live, n) for n in (0, 1, 2)] == [200, 200, 200]
            await live.until(lambda: bool(live.runs()))
            await live.system.runs.drain()
            await asyncio.sleep(0.2)
            assert len(live.runs()) == 1
        # a new process on the same database gets Slack's next retry: still one run
        async with live_system(tmp_path, db_url, monkeypatch, fake) as live:
            assert await deliver(live, 3) == 200
            await asyncio.sleep(0.5)
            assert len(live.runs()) == 1


async def test_a_run_started_in_a_thread_broadcasts_its_outcome_to_the_channel(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = event_callback(
        app_mention("<@UBOT0001> status payments", thread_ts="1515449000.000001"), event_id="EvThread"
    )
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        body = json.dumps(payload)
        response = await live.http.post(live.url + "/slack/events", content=body, headers=signed_headers(body))
        assert response.status_code == 200
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.until(lambda: any(c.params.get("reply_broadcast") for c in fake.of("chat.postMessage")))
        posts = fake.of("chat.postMessage")
        assert all(c.params.get("thread_ts") == "1515449000.000001" for c in posts)  # all in the thread
        [broadcast] = [c for c in posts if c.params.get("reply_broadcast")]
        assert "succeeded" in broadcast.params["text"] + json.dumps(broadcast.params.get("blocks", ""))
