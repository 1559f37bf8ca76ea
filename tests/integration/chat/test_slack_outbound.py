"""Posting, editing, ephemeral answers, pacing and 429 handling against the fake Web API."""

from __future__ import annotations

import asyncio
import time

import pytest
from slack_sdk.errors import SlackApiError
from tests.integration.chat.slack_harness import fake_slack, slack_config

from opsroom.chat.slack import SlackAdapter
from opsroom.core import Actions, Button, Message, MessageRef, Place, Principal, Section

OPS = Place("slack", "C0OPS", channel_name="#ops")


async def started(fake_url: str, **overrides: object) -> SlackAdapter:
    adapter = SlackAdapter(slack_config(fake_url, **overrides))

    async def ignore(event: object) -> None:
        return None

    await adapter.start(ignore)
    return adapter


async def test_progress_message_is_posted_then_edited_in_place_with_details_in_its_thread() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        ref = await adapter.send(OPS, Message.plain("deploy api-gateway → staging: queued", tone="running"))
        reply = await adapter.send(ref.thread_place, Message.plain("step 1/3: pulling image"))
        await adapter.update(ref, Message.plain("deploy api-gateway → staging: succeeded", tone="success"))
        final = Message("deploy succeeded", blocks=(Section("deploy succeeded"),), extra={"broadcast": "true"})
        await adapter.send(ref.thread_place, final)
        await adapter.stop()
    (post, thread_reply, broadcast) = fake.of("chat.postMessage")
    assert post.params["channel"] == "C0OPS" and "thread_ts" not in post.params
    assert thread_reply.params["thread_ts"] == ref.message_id
    assert reply.place.thread == ref.message_id
    assert broadcast.params["reply_broadcast"] is True
    (update,) = fake.of("chat.update")
    assert update.params["ts"] == ref.message_id
    shown = fake.messages[("C0OPS", ref.message_id)]
    assert ":white_check_mark:" in shown["blocks"][0]["text"]["text"] and "succeeded" in shown["text"]


async def test_a_final_message_posted_in_a_thread_also_shows_its_headline_in_the_channel() -> None:
    # A run that ended before its progress message was posted has only its final message:
    # its outcome reaches the channel as when a progress message is edited to it.
    thread = OPS.in_thread("1515449000.000001")
    final = Message(
        "run #7 succeeded: status",
        blocks=(Section("✅ status · run #7 · succeeded"), Section("all green")),
        tone="success",
        extra={"final": "true"},
    )
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        await adapter.send(thread, Message.plain("a plain reply in the thread"))
        await adapter.send(thread, final)
        await adapter.stop()
        quiet = await started(fake.base_url, broadcast_final=False)
        await quiet.send(thread, final)
        await quiet.stop()
    (plain, in_thread, headline, quiet_final) = fake.of("chat.postMessage")
    assert all(c.params["thread_ts"] == "1515449000.000001" for c in (plain, in_thread, headline, quiet_final))
    assert not plain.params.get("reply_broadcast") and not in_thread.params.get("reply_broadcast")
    assert headline.params["reply_broadcast"] is True and "all green" not in str(headline.params)
    assert "succeeded" in str(headline.params) and not quiet_final.params.get("reply_broadcast")


async def test_buttons_carry_the_signed_id_in_value_and_mentions_ping_the_slack_user() -> None:
    signed = "a" * 600
    alice = Principal("alice", identities={"slack": "U0ALICE"})
    bob = Principal("bob")  # no Slack identity: named, not pinged
    message = Message(
        "approval needed",
        blocks=(
            Section("deploy to production needs approval"),
            Actions((Button("Approve", signed, style="primary"), Button("Deny", "b" * 10, style="danger"))),
        ),
        mentions=(alice, bob),
    )
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        await adapter.send(OPS, message)
        await adapter.stop()
    blocks = fake.of("chat.postMessage")[0].params["blocks"]
    assert blocks[0]["text"]["text"].startswith("<@U0ALICE> @bob deploy to production")
    buttons = blocks[1]["elements"]
    assert [b["value"] for b in buttons] == [signed, "b" * 10]
    assert [b["action_id"] for b in buttons] == ["opsroom_0", "opsroom_1"]
    assert [b["style"] for b in buttons] == ["primary", "danger"]


async def test_ephemeral_answer_goes_only_to_that_user_and_is_seen() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        parent = await adapter.send(OPS, Message.plain("run #1 running"))
        # a thread that does not exist yet: Slack would swallow an ephemeral sent into it
        ref = await adapter.send(
            OPS.in_thread(parent.message_id), Message("You may not approve this.", ephemeral_to="U0MALLORY")
        )
        await adapter.send(OPS.in_thread(parent.message_id), Message.plain("details"))  # now it exists
        await adapter.update(ref, Message("Still no.", ephemeral_to="U0MALLORY"))
        await adapter.stop()
    assert fake.of("chat.update") == []
    first, second = fake.ephemerals
    assert first["user"] == "U0MALLORY" and first["channel"] == "C0OPS" and "thread_ts" not in first
    assert second["user"] == "U0MALLORY" and "Still no." in second["text"]
    assert second["thread_ts"] == parent.message_id  # the thread exists now: shown there
    assert [t.split("\n")[0] for t in fake.seen_by("U0MALLORY")] == ["You may not approve this.", "Still no."]


async def test_a_burst_of_100_posts_to_one_channel_is_paced_and_nothing_is_lost() -> None:
    pace = 0.02
    async with fake_slack() as fake:
        adapter = await started(fake.base_url, pace_seconds=pace)
        started_at = time.monotonic()
        refs = await asyncio.gather(*(adapter.send(OPS, Message.plain(f"run {i} finished")) for i in range(100)))
        elapsed = time.monotonic() - started_at
        await adapter.stop()
    posts = fake.of("chat.postMessage")
    assert len(posts) == 100 and len({r.message_id for r in refs}) == 100
    assert [p.params["text"] for p in posts] == [f"run {i} finished" for i in range(100)]  # in order
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert elapsed >= 99 * pace
    assert sum(gaps) / len(gaps) >= pace * 0.95
    # Any 10 consecutive posts span at least 9 intervals as the fake sees them: the rate
    # holds over every window, with one interval of slack for network jitter.
    windows = [posts[i + 10].at - posts[i].at for i in range(len(posts) - 10)]
    assert min(windows) >= 9 * pace
    print(f"100 posts paced at {pace}s: {elapsed:.2f}s, min gap {min(gaps) * 1000:.1f} ms")


async def test_channels_are_paced_independently() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url, pace_seconds=0.1)
        started_at = time.monotonic()
        await asyncio.gather(
            *(adapter.send(Place("slack", c), Message.plain("hi")) for c in ("C1", "C2", "C3", "C4", "C5"))
        )
        elapsed = time.monotonic() - started_at
        await adapter.stop()
    assert len(fake.of("chat.postMessage")) == 5
    assert elapsed < 0.3  # five channels, one post each: no waiting on each other


async def test_429_is_retried_after_retry_after() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        fake.rate_limit("chat.postMessage", 1)
        started_at = time.monotonic()
        ref = await adapter.send(OPS, Message.plain("hello"))
        elapsed = time.monotonic() - started_at
        await adapter.stop()
    attempts = fake.of("chat.postMessage")
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 1.0
    assert elapsed >= 1.0
    assert ("C0OPS", ref.message_id) in fake.messages


async def test_rapid_edits_of_one_message_collapse_to_the_latest() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url, pace_seconds=0.05)
        ref = await adapter.send(OPS, Message.plain("0%"))
        await asyncio.gather(*(adapter.update(ref, Message.plain(f"{i}%")) for i in range(1, 21)))
        await adapter.stop()
    updates = fake.of("chat.update")
    assert 1 <= len(updates) < 20
    assert fake.messages[("C0OPS", ref.message_id)]["text"] == "20%"


async def test_posting_to_a_user_id_returns_a_ref_in_the_dm() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        ref = await adapter.send(Place("slack", "U0ALICE"), Message.plain("your run finished"))
        await adapter.update(ref, Message.plain("your run finished (edited)"))
        await adapter.stop()
    assert isinstance(ref, MessageRef) and ref.place.channel == "D0ALICE"
    assert fake.messages[("D0ALICE", ref.message_id)]["text"] == "your run finished (edited)"


async def test_user_text_cannot_ping_the_channel() -> None:
    async with fake_slack() as fake:
        adapter = await started(fake.base_url)
        await adapter.send(OPS, Message.plain("output: <!channel> <@U0ALICE> & <https://x.io|docs>"))
        await adapter.stop()
    text = fake.of("chat.postMessage")[0].params["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "&lt;@U0ALICE&gt;" in text and "&amp;" in text
    assert "<https://x.io|docs>" in text


async def test_membership_public_channels_are_joined_private_ones_are_not_posted_into() -> None:
    async with fake_slack() as fake:
        fake.members = {"C0OPS"}
        fake.private.add("G0SECRET")
        adapter = await started(fake.base_url)
        ref = await adapter.send(Place("slack", "C0PROD", channel_name="#prod"), Message.plain("deployed"))
        with pytest.raises(SlackApiError) as refused:
            # no command being answered: nothing else can reach a private channel
            await adapter.send(Place("slack", "G0SECRET"), Message.plain("secret"))
        await adapter.stop()
    assert refused.value.response["error"] == "channel_not_found"
    assert [c.params["channel"] for c in fake.of("conversations.join")] == ["C0PROD"]
    assert fake.messages[("C0PROD", ref.message_id)]["text"] == "deployed"
    assert not [k for k in fake.messages if k[0] == "G0SECRET"]


async def test_the_default_pace_keeps_within_one_post_a_second_per_channel() -> None:
    """With Slack's per-channel limit enforced (one a second, a burst of two to absorb network
    jitter), the adapter's default pacing never gets a 429."""
    async with fake_slack() as fake:
        fake.per_channel_pacing, fake.burst = True, 2
        adapter = await started(fake.base_url, pace_seconds=1.0)
        prod = Place("slack", "C0PROD", channel_name="#prod")
        await asyncio.gather(*(adapter.send(OPS if i % 2 else prod, Message.plain(f"run {i}")) for i in range(6)))
        await adapter.stop()
    assert fake.limited == []
    assert len(fake.of("chat.postMessage")) == 6


async def test_without_pacing_the_limit_is_hit_and_every_post_still_arrives() -> None:
    async with fake_slack() as fake:
        fake.per_channel_pacing = True
        adapter = await started(fake.base_url, pace_seconds=0.0)
        refs = await asyncio.gather(*(adapter.send(OPS, Message.plain(f"run {i}")) for i in range(3)))
        await adapter.stop()
    assert fake.limited, "the fake enforces the limit"
    assert len({r.message_id for r in refs}) == 3  # retried after Retry-After, nothing lost
