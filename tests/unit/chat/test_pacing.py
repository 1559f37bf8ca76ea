"""Per-channel pacing: FIFO, spaced, independent channels, edits that collapse."""

from __future__ import annotations

import asyncio
import time

import pytest

from opsroom.chat.pacing import ChannelPacer, Outbox


async def test_calls_to_one_channel_are_spaced_and_in_order() -> None:
    pacer = ChannelPacer(0.02)
    stamps: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        async with pacer.slot("C1"):
            stamps.append((i, time.monotonic()))

    await asyncio.gather(*(one(i) for i in range(10)))
    assert [i for i, _ in stamps] == list(range(10))
    gaps = [b - a for (_, a), (_, b) in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.019


async def test_channels_do_not_wait_for_each_other() -> None:
    pacer = ChannelPacer(0.5)
    started = time.monotonic()

    async def one(channel: str) -> None:
        async with pacer.slot(channel):
            pass

    await asyncio.gather(*(one(f"C{i}") for i in range(20)))
    assert time.monotonic() - started < 0.2


async def test_idle_lanes_are_forgotten() -> None:
    pacer = ChannelPacer(0.0)
    for i in range(100):
        async with pacer.slot(f"C{i}"):
            pass
    assert pacer._lanes == {}


async def test_edits_collapse_to_the_latest_and_every_caller_returns() -> None:
    outbox = Outbox(0.05)
    sent: list[str] = []

    async def edit(text: str) -> None:
        sent.append(text)

    async def post() -> str:
        return "posted"

    assert await outbox.post("C1", post) == "posted"  # occupies the lane for 50 ms
    await asyncio.gather(*(outbox.edit("C1", "ts1", f"v{i}", edit) for i in range(10)))
    assert sent[-1] == "v9" and len(sent) < 10


async def test_a_failed_edit_reaches_every_waiting_caller() -> None:
    outbox = Outbox(0.05)

    async def boom(text: str) -> None:
        raise RuntimeError("message_not_found")

    async def post() -> None:
        return None

    await outbox.post("C1", post)
    results = await asyncio.gather(*(outbox.edit("C1", "ts1", f"v{i}", boom) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    # and the next edit starts afresh
    with pytest.raises(RuntimeError):
        await outbox.edit("C1", "ts1", "again", boom)
