"""The JSON API: token auth on every call, cursors, runs, approvals and audit — and the
OpenAPI spec checked with schemathesis (bad tokens, bad cursors, malformed bodies: clear
4xx, never a 500, and every answer as the spec describes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from tests.integration.web.conftest import Served, ThreadedServer, threaded_system, wait_for

from opsroom.core import RunState
from opsroom.web.sessions import create_token, list_tokens, revoke_token


def api(web: Served, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=web.base, headers=headers, timeout=10)


async def test_every_call_needs_a_valid_token(web: Served) -> None:
    token, token_id = create_token(web.system.db, "alice", "test")
    paths = [
        "/api/me",
        "/api/channels",
        "/api/channels/ops/messages",
        "/api/runs",
        "/api/runs/1",
        "/api/runs/1/output",
        "/api/approvals",
        "/api/audit",
    ]
    for bad in (None, "opr_not-a-real-token", "Basic abc", token + "x"):
        async with api(web, bad) as client:
            for path in paths:
                response = await client.get(path)
                assert response.status_code == 401, (bad, path)
                assert response.json()["error"] and "Bearer" in response.headers["WWW-Authenticate"]
            assert (await client.post("/api/channels/ops/messages", json={"text": "/whoami"})).status_code == 401
    async with api(web, token) as client:
        me = (await client.get("/api/me")).json()
        assert me == {"user": "alice", "display_name": "Alice (SRE)", "roles": ["sre"]}
    revoke_token(web.system.db, token_id)
    async with api(web, token) as client:
        assert (await client.get("/api/me")).status_code == 401
    # Only the hash is stored.
    [info] = list_tokens(web.system.db, "alice")
    assert token not in repr(info) and info.revoked


async def test_post_a_command_and_read_the_channel_with_a_cursor(web: Served) -> None:
    token, _ = create_token(web.system.db, "alice")
    async with api(web, token) as client:
        posted = await client.post("/api/channels/ops/messages", json={"text": "/deploy api-gateway staging"})
        assert posted.status_code == 201 and posted.json()["sender"] == "alice"
        first_id = posted.json()["id"]
        await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in _runs(web)))

        async def final() -> bool:
            page = (await client.get("/api/channels/ops/messages")).json()
            return any(m["is_bot"] and "succeeded" in m["text"] for m in page["messages"])

        await wait_for(final)
        page = (await client.get("/api/channels/ops/messages", params={"limit": 1})).json()
        assert [m["id"] for m in page["messages"]] == [first_id]
        rest = (await client.get("/api/channels/ops/messages", params={"after": page["next_cursor"]})).json()
        bot = rest["messages"][0]
        assert bot["is_bot"] and bot["message"]["blocks"] and bot["id"] > first_id
        for bad in ({"after": "abc"}, {"after": "-3"}, {"limit": "0"}, {"limit": "5000"}, {"after": "١٢"}):
            response = await client.get("/api/channels/ops/messages", params=bad)
            assert response.status_code == 400 and "error" in response.json(), bad
        for body in (
            b"",
            b"[1]",
            b'{"text": 3}',
            b'{"text": "x", "extra": 1}',
            b'{"text": "x", "thread": true}',
            b"\xff\xfe",
        ):
            response = await client.post(
                "/api/channels/ops/messages", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, body
        assert (await client.get("/api/channels/nope/messages")).status_code == 404
        runs = (await client.get("/api/runs", params={"state": "succeeded"})).json()["runs"]
        assert runs[0]["command"] == "deploy" and runs[0]["channel"] == "#ops"
        assert (await client.get("/api/runs", params={"state": "sleeping"})).status_code == 400
        run_id = runs[0]["id"]
        assert (await client.get(f"/api/runs/{run_id}")).json()["state"] == "succeeded"
        output = (await client.get(f"/api/runs/{run_id}/output")).json()
        assert "Deploying api-gateway" in output["output"]
        assert (await client.get("/api/runs/abc")).status_code == 404
        audit = (await client.get("/api/audit", params={"q": f"run:{run_id}", "limit": "3"})).json()
        assert len(audit["entries"]) == 3 and audit["next_cursor"]
        more = (await client.get("/api/audit", params={"q": f"run:{run_id}", "before": audit["next_cursor"]})).json()
        assert all(e["id"] < int(audit["next_cursor"]) for e in more["entries"])
        assert (await client.get("/api/audit", params={"q": "since whenever-ish"})).status_code == 400


async def test_approvals_and_buttons_over_the_api(web: Served) -> None:
    alice, _ = create_token(web.system.db, "alice")
    carol, _ = create_token(web.system.db, "carol")
    async with api(web, alice) as a, api(web, carol) as c:
        await a.post("/api/channels/ops/messages", json={"text": "/deploy payments production"})
        waiting = await wait_for(lambda: _waiting(c))
        assert waiting["waiting_for_me"][0]["command"] == "deploy"
        mine = (await a.get("/api/approvals")).json()
        assert mine["mine"] and not mine["waiting_for_me"]
        messages = (await c.get("/api/channels/ops/messages")).json()["messages"]
        ask = next(m for m in messages if m["is_bot"] and "needs approval" in m["text"])
        approve = next(
            b["action_id"]
            for blk in ask["message"]["blocks"]
            if blk["type"] == "actions"
            for b in blk["buttons"]
            if b["label"] == "Approve"
        )
        assert (await c.post("/api/actions", json={"message_id": ask["id"], "action_id": "forged"})).status_code == 400
        assert (await c.post("/api/actions", json={"message_id": 10**9, "action_id": approve})).status_code == 404
        assert (await c.post("/api/actions", json={"message_id": ask["id"], "action_id": approve})).status_code == 202
        await wait_for(lambda: any(r.state == RunState.SUCCEEDED for r in _runs(web)))


async def _waiting(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    data = (await client.get("/api/approvals")).json()
    return data if data["waiting_for_me"] else None


def _runs(web: Served):  # type: ignore[no-untyped-def]
    from opsroom.runs import store as run_store

    with web.system.db.read() as conn:
        return run_store.list_runs(conn, limit=10)


def fuzz(operation: Any, mode: Any, auth: dict[str, str], base: str) -> None:
    """One operation, one generation mode, one token: hypothesis draws the requests."""
    import schemathesis
    from schemathesis import GenerationMode

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, headers=auth, timeout=10)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        if mode == GenerationMode.POSITIVE:
            # The audit query language is richer than a JSON Schema can say: a query that
            # does not parse is a documented 400, not a rejected valid input.
            skip = [schemathesis.checks.positive_data_acceptance] if case.path.startswith("/api/audit") else []
            case.validate_response(response, headers=auth, excluded_checks=skip)
        else:
            assert response.status_code < 300 or "error" in response.json()

    check()


def test_the_api_keeps_its_openapi_promises(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operation, with valid and with malformed input (schemathesis), against a real
    server: no 5xx, status codes and bodies as documented."""
    import schemathesis
    from schemathesis import GenerationMode

    system, app = threaded_system(tmp_path, db_url, monkeypatch)
    token, _ = create_token(system.db, "alice")
    with ThreadedServer(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
        checked = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for auth in ({"Authorization": f"Bearer {token}"}, {"Authorization": "Bearer opr_wrong"}):
                    fuzz(operation, mode, auth, base)
                    checked += 1
        assert checked == 48  # 12 operations (/api/check among them) × 2 modes × 2 tokens
    system.db.dispose()
