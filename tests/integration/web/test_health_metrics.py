"""/healthz answers anyone with only a status; /metrics only callers on this machine, or a
Prometheus that sends the configured bearer token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.support.system import demo_data, make_system

from opsroom.web.app import build_app


async def get(app: object, path: str, client: tuple[str, int], **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://opsroom") as http:
        return await http.get(path, headers=headers)


async def test_health_says_only_ok_and_metrics_stay_local(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("alice", "/status payments")
        await system.runs.drain()
        app = build_app(system, manage_lifecycle=False)
        health = await get(app, "/healthz", ("203.0.113.9", 5000))
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        local = await get(app, "/metrics", ("127.0.0.1", 5000))
        assert local.status_code == 200 and 'opsroom_commands_total{command="status"' in local.text
        remote = await get(app, "/metrics", ("203.0.113.9", 5000))
        assert remote.status_code == 403 and "opsroom_" not in remote.text
    finally:
        await system.stop()
        system.db.dispose()


async def test_metrics_with_a_token_need_the_token(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "scrape-me-please")
    data = demo_data()
    data["server"]["metrics_token_env"] = "PROM_TOKEN"
    system, _ = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    app = build_app(system, manage_lifecycle=False)
    try:
        assert (await get(app, "/metrics", ("127.0.0.1", 1))).status_code == 401
        assert (await get(app, "/metrics", ("203.0.113.9", 1), authorization="Bearer wrong")).status_code == 401
        ok = await get(app, "/metrics", ("203.0.113.9", 1), authorization="Bearer scrape-me-please")
        assert ok.status_code == 200 and "opsroom_" in ok.text
    finally:
        system.db.dispose()
