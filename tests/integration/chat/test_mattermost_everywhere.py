"""Mattermost commands answered where they were typed — a thread, a private channel or a DM
the bot is not in — with the bot as the docs set it up (Member role: no ephemeral posts).
Real engine, demo config, the fake enforcing membership and the ephemeral permission."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.chat.test_mattermost_engine import ALICE, MALLORY, OPS, live_system

from opsroom.core import RunState

SECRET = "chansecret0000000000000000"  # a private channel without the bot
PEOPLE_DM = "dmalicebob0000000000000000"


async def test_a_command_typed_in_a_thread_is_answered_in_that_thread(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        root = await live.fake.user_posts("deploys today?", user_id=ALICE)
        await live.command(ALICE, "/deploy", "api-gateway staging", root_id=root["id"])
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in p["message"] for p in live.fake.posts.values()))
        ours = [p for p in live.fake.posts.values() if p["user_id"] != ALICE]
    assert ours and all(p["root_id"] == root["id"] for p in ours)


async def test_a_run_in_a_private_channel_without_the_bot_goes_through_the_response_url(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        live.fake.members = {OPS}
        await live.command(ALICE, "/deploy", "api-gateway staging", channel_id=SECRET, channel_name="secret")
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in r["text"] for r in live.fake.responses))
    shown = [r["text"] for r in live.fake.responses if r["response_type"] == "in_channel"]
    assert "running" in shown[0] and "not a member" in shown[0]
    assert "succeeded" in shown[-1] and len(live.fake.responses) <= 5
    assert all(r["channel_id"] == SECRET for r in live.fake.responses)


async def test_help_and_a_denial_in_a_dm_between_people_reach_only_the_asker(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        live.fake.members = {OPS}
        dm_name = f"{ALICE}__{MALLORY}"
        await live.command(ALICE, "/ops", "help", channel_id=PEOPLE_DM, channel_name=dm_name)
        await live.command(MALLORY, "/deploy", "api-gateway staging", channel_id=PEOPLE_DM, channel_name=dm_name)
        await live.until(lambda: bool(live.fake.seen_by(ALICE)) and bool(live.fake.seen_by(MALLORY)))
        [help_text] = live.fake.seen_by(ALICE)
        [refusal] = live.fake.seen_by(MALLORY)
    assert "deploy" in help_text and refusal != help_text
    assert not live.runs()
    assert not [r for r in live.fake.responses if r["response_type"] == "in_channel"]
    assert not live.fake.of("POST", "/posts/ephemeral")  # needs system admin: never tried


async def test_a_refused_click_is_never_a_public_error_even_when_the_answer_is_slow(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.mattermost import action_click
    from tests.integration.chat.test_mattermost_engine import cancel_context, start_sleepy

    async with live_system(tmp_path, db_url, monkeypatch) as live:
        post = await start_sleepy(live)
        adapter = live.system.chat.get("mattermost")
        object.__setattr__(adapter.config, "click_answer_seconds", 0.0)  # the answer misses the response
        refused = await live.http.post(
            live.url + "/mattermost/actions",
            json=action_click(cancel_context(post), user_id=MALLORY, post_id=post["id"]),
        )
        assert refused.status_code == 200
        await live.until(lambda: bool(live.fake.of("POST", "/posts/ephemeral")))
        run = live.runs()[0]
        assert run.state == RunState.RUNNING
        assert not [p for p in live.fake.posts.values() if "went wrong" in p["message"]]
        live.system.runs.cancel(run.id, "test")
        await live.system.runs.drain()


async def test_an_approval_in_a_private_channel_without_the_bot_runs_and_reports_there(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.mattermost import action_click

    carol = "carolid0000000000000000000"
    async with live_system(tmp_path, db_url, monkeypatch) as live:
        live.fake.members = {OPS}
        live.fake.users[carol] = {"id": carol, "username": "carol", "email": "carol@example.com"}
        await live.command(ALICE, "/deploy", "payments production", channel_id=SECRET, channel_name="secret")
        await live.until(lambda: any(r["response_type"] == "in_channel" for r in live.fake.responses))
        [request] = [r for r in live.fake.responses if r["response_type"] == "in_channel"]
        actions = request["props"]["attachments"][0]["actions"]
        approve = next(a for a in actions if a["name"] == "Approve")
        post_id = next(p["id"] for p in live.fake.posts.values() if p["channel_id"] == SECRET)
        clicked = await live.http.post(
            live.url + "/mattermost/actions",
            json=action_click(approve["integration"]["context"], user_id=carol, post_id=post_id, channel_id=SECRET),
        )
        assert clicked.status_code == 200
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in r["text"] for r in live.fake.responses))
    assert len(live.fake.responses) <= 5
    assert not [p for p in live.fake.posts.values() if p["user_id"] == "botuserid0000000000000000a"]
