"""Web chat across replicas: bob's browser is connected to replica B; alice posts through
replica A. Bob sees her message and opsroom's answer (and its edits) live, without a reload,
and a browser that reconnects catches up from the last id it saw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from tests.support.cluster import Replica


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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_message_posted_through_one_replica_is_live_on_another(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    a = Replica(cluster_config, tmp_path, "a", speed="0.01")
    replicas.append(a)
    b = Replica(cluster_config, tmp_path, "b", speed="0.01")
    replicas.append(b)
    bob_cookie, _ = b.sign_in("bob", "ops")
    alice = a.sign_in("alice", "ops")
    async with websockets.connect(b.ws_url("ops"), additional_headers={"Cookie": bob_cookie}) as ws:
        seen: list[dict[str, Any]] = []
        posted = a.say("alice", "ops", "@opsroom deploy api-gateway staging", alice)
        mine = await _until(ws, seen, lambda e: e.get("id") == posted)
        assert mine["sender"] == "alice" and "deploy api-gateway staging" in mine["html"]
        # opsroom's answer is written by replica A's engine; bob sees it and its progress edits on B
        done = await _until(ws, seen, lambda e: " bot" in e.get("html", "")[:80] and "succeeded" in e["html"])
        assert done["type"] in ("message", "edit")
        last = max(int(e["id"]) for e in seen)

    # bob's socket is closed: alice says more through A; bob's browser catches up by id on B
    later = a.say("alice", "ops", "anyone there?", alice)
    async with httpx.AsyncClient(base_url=b.base, headers={"Cookie": bob_cookie}, timeout=10) as http:
        history = (await http.get(f"/chat/ops/history?after={last}")).json()
    ids = [m["id"] for m in history["messages"]]
    assert later in ids and all(i > last for i in ids)
