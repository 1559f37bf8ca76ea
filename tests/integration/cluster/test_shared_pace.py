"""Chat rate budgets across replicas: two replicas' outboxes posting to one channel share its
pace (a row in PostgreSQL), so the channel sees the configured spacing, not twice the rate."""

from __future__ import annotations

import asyncio
import time

import pytest

from opsroom.chat.pacing import Outbox
from opsroom.cluster.pace import SharedPace
from opsroom.store import Database


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_replicas_posting_to_one_channel_keep_its_spacing(db_url: str) -> None:
    db = Database.open(db_url)
    try:
        replicas = [Outbox(0.2), Outbox(0.2)]
        for outbox in replicas:  # as the cluster plugin wires them (each its own row reader)
            outbox.pacer.shared = SharedPace(db, "slack").reserve
        sent: list[float] = []

        async def post() -> None:
            sent.append(time.monotonic())

        await asyncio.gather(*(o.post("C-ops", post) for o in replicas for _ in range(3)))
        await replicas[0].post("C-other", post)  # another channel is not held up
        gaps = [b - a for a, b in zip(sorted(sent[:6]), sorted(sent[:6])[1:], strict=False)]
        assert len(sent) == 7
        assert min(gaps) >= 0.18, f"posts to one channel from two replicas came {min(gaps):.3f} s apart"
        assert sent[6] - max(sent[:6]) < 0.15, "a post to another channel waits for nobody"
    finally:
        db.dispose()
