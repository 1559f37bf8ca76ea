"""The webhook endpoints: authentication, limits, clear errors, and nothing stored on error."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from tests.fakes.alert_fakes import FakeAudit, RecordingHub, fake_mint

from opsroom.alerts.http import routes
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.config.alerts import AlertsConfig
from opsroom.store import Database

ENV = {"AM_TOKEN": "s3cret-token", "GRAFANA_HMAC": "hmac-key", "UPTIME_TOKEN": "up-token"}
CONFIG = {
    "max_body_bytes": 20_000,
    "max_alerts_per_request": 50,
    "sources": {
        "alertmanager": {"type": "alertmanager", "token_env": "AM_TOKEN"},
        "grafana": {
            "type": "grafana",
            "hmac_secret_env": "GRAFANA_HMAC",
            "signature_header": "X-Grafana-Alerting-Signature",
            "timestamp_header": "X-Grafana-Alerting-Signature-Timestamp",
        },
        "uptime": {
            "type": "generic",
            "token_env": "UPTIME_TOKEN",
            "mapping": {"title": "check", "status": "state", "severity": "sev"},
        },
        "unset": {"type": "generic", "token_env": "NOT_SET_ANYWHERE", "mapping": {}},
    },
}
AM_AUTH = {"Authorization": "Bearer s3cret-token"}


def am_body(n: int = 1) -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": f"A{i}", "severity": "warning"},
                "fingerprint": f"f{i}",
            }
            for i in range(n)
        ],
    }


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    service = AlertService(
        AlertsConfig.model_validate(CONFIG), db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit()
    )
    app = Starlette(routes=routes(service, env=ENV))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        c.db = db  # type: ignore[attr-defined]
        yield c


def stored(client: httpx.AsyncClient) -> tuple[int, int]:
    with client.db.read() as conn:  # type: ignore[attr-defined]
        return (
            conn.execute(select(func.count()).select_from(alerts)).scalar_one(),
            conn.execute(select(func.count()).select_from(alert_groups)).scalar_one(),
        )


async def test_alertmanager_with_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/hooks/alertmanager", json=am_body(3), headers=AM_AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 3
    assert stored(client) == (3, 3)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic czNjcmV0"},
        {"Authorization": "Bearer "},
        {"Authorization": "s3cret-token"},
    ],
)
async def test_missing_or_wrong_token_is_401_and_stores_nothing(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/hooks/alertmanager", json=am_body(), headers=headers)
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]
    assert stored(client) == (0, 0)


async def test_source_whose_secret_env_is_unset_refuses_everyone(client: httpx.AsyncClient) -> None:
    response = await client.post("/hooks/generic/unset", json={"title": "x"}, headers={"Authorization": "Bearer "})
    assert response.status_code == 401


async def test_malformed_json_is_400_with_reason(client: httpx.AsyncClient) -> None:
    response = await client.post("/hooks/alertmanager", content=b"{not json", headers=AM_AUTH)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    response = await client.post("/hooks/alertmanager", json={"alerts": [{"labels": {"a": [1]}}]}, headers=AM_AUTH)
    assert response.status_code == 400 and "must be text" in response.json()["error"]
    assert stored(client) == (0, 0)


async def test_deeply_nested_json_is_400_not_a_crash(client: httpx.AsyncClient) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    response = await client.post("/hooks/alertmanager", content=body, headers=AM_AUTH)
    assert response.status_code in (400, 413)


async def test_oversized_body_is_413_even_without_content_length(client: httpx.AsyncClient) -> None:
    big = json.dumps({"alerts": [], "pad": "x" * 30_000}).encode()
    response = await client.post("/hooks/alertmanager", content=big, headers=AM_AUTH)
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # streamed: no Content-Length header
        for _ in range(40):
            yield b" " * 1000

    response = await client.post("/hooks/alertmanager", content=chunks(), headers=AM_AUTH)
    assert response.status_code == 413
    assert stored(client) == (0, 0)


async def test_too_many_alerts_in_one_request_is_413(client: httpx.AsyncClient) -> None:
    body = {"version": "4", "alerts": [{"labels": {"a": "b"}}] * 51}
    response = await client.post("/hooks/alertmanager", json=body, headers=AM_AUTH)
    assert response.status_code == 413 and "at most 50" in response.json()["error"]
    assert stored(client) == (0, 0)


def grafana_headers(body: bytes, key: str = "hmac-key", stamp: float | None = None) -> dict[str, str]:
    ts = str(int(stamp if stamp is not None else time.time()))
    sig = hmac.new(key.encode(), ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "X-Grafana-Alerting-Signature": sig,
        "X-Grafana-Alerting-Signature-Timestamp": ts,
        "Content-Type": "application/json",
    }


async def test_grafana_hmac_signature(client: httpx.AsyncClient) -> None:
    body = json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "cpu"}}]}).encode()
    assert (await client.post("/hooks/grafana", content=body, headers=grafana_headers(body))).status_code == 200
    wrong = grafana_headers(body, key="other")
    assert (await client.post("/hooks/grafana", content=body, headers=wrong)).status_code == 401
    stale = grafana_headers(body, stamp=time.time() - 3600)
    assert (await client.post("/hooks/grafana", content=body, headers=stale)).status_code == 401
    tampered = grafana_headers(body)
    assert (
        await client.post("/hooks/grafana", content=body.replace(b"cpu", b"cpx"), headers=tampered)
    ).status_code == 401
    assert stored(client) == (1, 1)


async def test_generic_source_and_unknown_source(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer up-token"}
    response = await client.post(
        "/hooks/generic/uptime", json={"check": "site down", "state": "down", "sev": "critical"}, headers=auth
    )
    assert response.status_code == 200 and response.json()["new"] == 1
    response = await client.post("/hooks/generic/nope", json={}, headers=auth)
    assert response.status_code == 404
    # A token for one source does not open another.
    response = await client.post("/hooks/alertmanager", json=am_body(), headers=auth)
    assert response.status_code == 401


async def test_get_is_not_allowed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/hooks/alertmanager")).status_code == 405
