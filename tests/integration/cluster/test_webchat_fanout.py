"""Web chat across replicas: bob's browser is connected to replica B; alice posts through
replica A. Bob sees her messages, opsroom's answers and the edits of a run's progress message
live, without a reload. Alice's Cancel, clicked through B, reaches A, which runs the deploy:
A stops the process and only then ends the run and frees its lock. A browser that reconnects
catches up from the last id it saw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, select
from tests.support.cluster import Replica, alive, wait_for

from opsroom.chat.web.tables import webchat_messages
from opsroom.store.tables import audit_log, locks, runs


async def _until(ws: Any, seen: list[dict[str, Any]], test: Any, seconds: float = 15) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        for event in seen:
            if test(event):
                return event
        while True:
            event = json.loads(await ws.recv())
            seen.append(event)
            if test(event):
                return event

    return await asyncio.wait_for(wait(), seconds)


def _bot(event: dict[str, Any], words: str) -> bool:
    return " bot" in event.get("html", "")[:80] and words in event["html"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_web_chat_is_live_across_replicas_and_cancel_reaches_the_running_one(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    a, b = Replica.start_all(cluster_config, tmp_path, "ab", speed="20")  # a deploy takes minutes
    replicas.extend((a, b))
    engine = create_engine(db_url)
    bob_cookie, _ = b.sign_in("bob", "ops")
    alice = a.sign_in("alice", "ops")
    async with websockets.connect(b.ws_url("ops"), additional_headers={"Cookie": bob_cookie}) as ws:
        seen: list[dict[str, Any]] = []
        posted = a.say("alice", "ops", "/whoami", alice)
        mine = await _until(ws, seen, lambda e: e.get("id") == posted)
        assert mine["sender"] == "alice" and "whoami" in mine["html"]
        await _until(ws, seen, lambda e: _bot(e, "Roles: sre"))  # answered by A's engine, shown on B

        a.say("alice", "ops", "/deploy api-gateway staging", alice)
        progress = await _until(ws, seen, lambda e: _bot(e, "Cancel"))
        with engine.connect() as conn:
            body = conn.execute(select(webchat_messages.c.body).where(webchat_messages.c.id == progress["id"])).scalar()
            run = conn.execute(select(runs.c.id, runs.c.state, runs.c.extra)).one()
        [cancel] = [
            x for blk in body["blocks"] if blk["type"] == "actions" for x in blk["buttons"] if x["label"] == "Cancel"
        ]
        assert run.state == "running"
        pid = wait_for(lambda: _pid(engine), 15)
        cookie, token = b.sign_in("alice", "ops")
        clicked = httpx.post(
            f"{b.base}/chat/actions",
            json={"message": progress["id"], "action": cancel["action_id"]},
            headers={"Cookie": cookie, "X-CSRF-Token": token},
            timeout=10,
        )
        assert clicked.status_code == 202, clicked.text
        edited = await _until(ws, seen, lambda e: e.get("id") == progress["id"] and "cancelled" in e["html"], 20)
        assert edited["type"] == "edit"  # A's edit of its progress message, live on B
        assert not alive(pid), "A stopped the deploy's process before the run ended"
        with engine.connect() as conn:
            assert conn.execute(select(runs.c.state)).scalar() == "cancelled"
            assert conn.execute(select(locks)).first() is None
            finished = conn.execute(select(audit_log.c.id).where(audit_log.c.action == "run.finished")).all()
        assert len(finished) == 1
        last = max(int(e["id"]) for e in seen)

    # bob's socket is closed: alice says more through A; bob's browser catches up by id on B
    later = a.say("alice", "ops", "anyone there?", alice)
    async with httpx.AsyncClient(base_url=b.base, headers={"Cookie": bob_cookie}, timeout=10) as http:
        history = (await http.get(f"/chat/ops/history?after={last}")).json()
    ids = [m["id"] for m in history["messages"]]
    assert later in ids and all(i > last for i in ids)
    engine.dispose()


def _pid(engine: Any) -> int | None:
    with engine.connect() as conn:
        extra = conn.execute(select(runs.c.extra)).scalar() or {}
    return extra.get("process", {}).get("pid")
