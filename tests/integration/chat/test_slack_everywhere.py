"""Slash commands answered everywhere they can be typed, and refusals people actually see.

The fake Web API enforces what Slack enforces: the bot cannot post into a private channel or a
DM it is not in (``channel_not_found``), an ephemeral sent into a thread that does not exist is
never shown, a ``response_url`` takes five answers. Real engine, demo config, SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.chat.slack_harness import fake_slack
from tests.integration.chat.test_slack_engine import live_system, start_sleepy

from opsroom.core import RunState

PRIVATE = "G0SECRET"  # a private channel nobody invited opsroom to
PEOPLE_DM = "D0ALICEBOB"  # a DM between alice and bob


def in_channel(fake: object, key: str) -> list[str]:
    return [
        r["text"] + str(r.get("blocks", ""))
        for r in fake.responses  # type: ignore[attr-defined]
        if r["key"] == key and r["response_type"] == "in_channel"
    ]


async def test_a_run_typed_in_a_private_channel_without_the_bot_is_answered_there(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        fake.private.add(PRIVATE)
        resp = await live.command(
            "U0ALICE", "/deploy", "api-gateway staging", "trig-priv", channel=PRIVATE, channel_name="privategroup"
        )
        assert resp.status_code == 200
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        await live.until(lambda: any("succeeded" in t for t in in_channel(fake, "trig-priv")))
        shown = in_channel(fake, "trig-priv")
    # everyone in the channel sees the start (with how to get live progress) and the outcome
    assert "running" in shown[0] and "`/invite @opsroom`" in shown[0]
    assert "succeeded" in shown[-1]
    assert len(fake.responses) <= 5  # Slack's limit per response_url
    assert not [k for k in fake.messages if k[0] == PRIVATE]  # nothing could be posted directly


async def test_help_and_denials_in_a_dm_between_people_go_to_the_asker_only(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        fake.private.add(PEOPLE_DM)
        await live.command("U0ALICE", "/ops", "help", "trig-help", channel=PEOPLE_DM, channel_name="directmessage")
        await live.command(
            "U0MALLORY", "/deploy", "api-gateway staging", "trig-deny", channel=PEOPLE_DM, channel_name="directmessage"
        )
        await live.until(lambda: bool(fake.seen_by("U0ALICE")) and bool(fake.seen_by("U0MALLORY")))
    [help_text] = fake.seen_by("U0ALICE")  # the help text, to alice only
    [refusal] = fake.seen_by("U0MALLORY")  # mallory's refusal, to mallory only
    assert "deploy" in help_text and refusal != help_text
    assert not live.runs()  # mallory is unknown: nothing ran
    assert not [r for r in fake.responses if r["response_type"] == "in_channel"]
    assert not fake.of("chat.postEphemeral")  # the Web API cannot reach this DM; nothing was tried there


async def test_a_refused_cancel_on_a_message_without_a_thread_is_seen_even_without_response_url(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        ts, cancel = await start_sleepy(live, fake, "trig-sleepy")
        # its response_url is used up: the Web API must do
        await live.click("U0MALLORY", cancel, ts, "trig-click", response_url_uses=0)
        await live.until(lambda: bool(fake.of("chat.postEphemeral")))
        [sent] = fake.of("chat.postEphemeral")
        assert sent.params.get("thread_ts") is None  # the progress message has no thread yet
        assert any("may not cancel" in t for t in fake.seen_by("U0MALLORY"))
        assert live.runs()[0].state == RunState.RUNNING
        live.system.runs.cancel(live.runs()[0].id, "test")
        await live.system.runs.drain()


async def test_an_approval_in_a_private_channel_without_the_bot_runs_and_reports_there(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        fake.private.add(PRIVATE)
        fake.users["U0CAROL"] = {
            "id": "U0CAROL",
            "name": "carol",
            "real_name": "Carol",
            "profile": {"display_name": "carol", "email": "carol@example.com"},
        }
        await live.command(
            "U0ALICE", "/deploy", "payments production", "trig-prod", channel=PRIVATE, channel_name="privategroup"
        )
        await live.until(lambda: bool(in_channel(fake, "trig-prod")))
        [request] = [r for r in fake.responses if r["key"] == "trig-prod"]
        actions = next(b for b in request["blocks"] if b["type"] == "actions")["elements"]
        approve = next(a for a in actions if a["text"]["text"] == "Approve")
        await live.click("U0CAROL", approve["value"], "1700000000.999999", "trig-approve", channel=PRIVATE)
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        shown = lambda: [r["text"] for r in fake.responses if r["response_type"] == "in_channel"]  # noqa: E731
        await live.until(lambda: any("succeeded" in t for t in shown()))
    assert not [k for k in fake.messages if k[0] == PRIVATE]
    assert all(n <= 5 for n in (sum(r["key"] == k for r in fake.responses) for k in ("trig-prod", "trig-approve")))
