"""Hostile bodies to every HTTP entry point of a full opsroom (web chat, JSON API, sign-in,
alert hooks): never a 5xx, nothing written; bodies capped also when chunked; signed alert
timestamps that are not numbers refused; replays refused; X-Forwarded-For believed only from
configured proxies; password hashing off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from tests.integration.chat.test_slack_hostile import JSON_VALUES
from tests.integration.web.conftest import serve
from tests.support.system import demo_data, make_system

from opsroom.chat.web import WebChatAdapter
from opsroom.web import signin
from opsroom.web.app import build_app
from opsroom.web.sessions import create_token

SECRETS = {"AM_TOKEN": "am-token-for-tests", "GRAFANA_HMAC": "grafana-hmac-for-tests"}
HOSTILE = [
    b"\xff\xfe\x00 not utf-8",
    b"[" * 3000 + b"]" * 3000,
    b'{"text": "/status", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"text": "/status", "n": NaN}',
    b'{"text": "/status", "n": -Infinity}',
    b'{"text": "/status", "n": 1e999}',
    b'{"text": "/status", "n": ' + b"9" * 5000 + b"}",
    b'{"alerts": [{"startsAt": 1e308, "labels": {"a": 1' + b"0" * 400 + b"}}]}",
    b"{unterminated",
    b"",
]


def config() -> dict[str, Any]:
    data = demo_data()
    data.setdefault("alerts", {})["sources"] = {
        "alertmanager": {"type": "alertmanager", "token_env": "AM_TOKEN"},
        "grafana": {
            "type": "grafana",
            "hmac_secret_env": "GRAFANA_HMAC",
            "signature_header": "X-Grafana-Alerting-Signature",
            "timestamp_header": "X-Grafana-Alerting-Signature-Timestamp",
        },
    }
    data["alerts"].setdefault("routes", [])
    return data


class Site:
    def __init__(self, system: Any, client: httpx.AsyncClient, token: str) -> None:
        self.system, self.client, self.token = system, client, token
        self.csrf = ""  # set once signed in to the web chat (its cookie is in the client)

    async def sign_in(self, user: str) -> None:
        page = await self.client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = await self.client.post("/login", data={"username": user, "password": "", "csrf": csrf})
        assert answer.status_code == 303, answer.text
        chat = await self.client.get("/chat/ops")
        self.csrf = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]

    def written(self) -> tuple[int, ...]:
        """Rows in every table that a request could add to."""
        with self.system.db.read() as conn:
            names = [
                n
                for n in ("audit_log", "runs", "webchat_messages", "alerts", "alert_groups", "processed_events")
                if conn.dialect.has_table(conn, n)
            ]
            return tuple(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names)

    def grafana_headers(self, body: bytes, stamp: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time())) if stamp is None else stamp
        digest = hmac.new(SECRETS["GRAFANA_HMAC"].encode(), stamp.encode() + b":" + body, hashlib.sha256)
        return {
            "X-Grafana-Alerting-Signature": digest.hexdigest(),
            "X-Grafana-Alerting-Signature-Timestamp": stamp,
            "Content-Type": "application/json",
        }


@pytest.fixture
async def site(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    system, _ = make_system(
        tmp_path,
        db_url,
        config(),
        adapter=WebChatAdapter(),  # type: ignore[arg-type]
        monkeypatch=monkeypatch,
    )
    app = build_app(system)
    token, _ = create_token(system.db, "alice")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client,
    ):
        served = Site(system, client, token)
        await served.sign_in("alice")
        yield served
    system.db.dispose()


def targets(site: Site) -> list[tuple[str, dict[str, str]]]:
    api = {"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"}
    web = {"X-CSRF-Token": site.csrf, "Content-Type": "application/json"}
    webchat = [("/chat/ops/messages", web), ("/chat/actions", web)] if site.csrf else []
    return webchat + [
        ("/api/channels/ops/messages", api),
        ("/api/actions", api),
        ("/api/check", api),
        ("/hooks/alertmanager", {"Authorization": "Bearer am-token-for-tests"}),
        ("/hooks/generic/nowhere", {}),
    ]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_bodies_get_a_4xx_and_write_nothing(site: Site, body: bytes) -> None:
    before = site.written()
    for path, headers in targets(site):
        answer = await site.client.post(path, content=body, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
    grafana = await site.client.post("/hooks/grafana", content=body, headers=site.grafana_headers(body))
    assert 400 <= grafana.status_code < 500, grafana.text
    await asyncio.sleep(0.05)
    assert site.written() == before


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e999", "soon", ""])
async def test_grafana_signature_timestamps_that_are_not_numbers_are_refused(site: Site, stamp: str) -> None:
    body = json.dumps({"alerts": [], "status": "firing"}).encode()
    answer = await site.client.post("/hooks/grafana", content=body, headers=site.grafana_headers(body, stamp))
    assert answer.status_code == 401


async def test_a_replayed_grafana_webhook_is_refused(site: Site) -> None:
    body = json.dumps(
        {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Disk"}, "fingerprint": "f1"}]}
    ).encode()
    headers = site.grafana_headers(body)
    first = await site.client.post("/hooks/grafana", content=body, headers=headers)
    before = site.written()
    again = await site.client.post("/hooks/grafana", content=body, headers=headers)
    assert first.status_code == 200 and again.status_code == 409
    assert site.written() == before


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(st.binary(max_size=3000), JSON_VALUES.map(lambda v: json.dumps(v).encode())),
    which=st.integers(min_value=0, max_value=5),
)
def test_fuzzed_bodies_never_get_a_5xx(tmp_path_factory: pytest.TempPathFactory, body: bytes, which: int) -> None:
    site = FUZZ_SITE
    assert site is not None

    async def go() -> None:
        paths = targets(site)
        if which < len(paths):
            path, headers = paths[which]
            answer = await site.client.post(path, content=body, headers=headers)
        else:
            answer = await site.client.post("/hooks/grafana", content=body, headers=site.grafana_headers(body))
        assert answer.status_code < 500, (answer.status_code, answer.text)

    FUZZ_LOOP.run_until_complete(go())


FUZZ_SITE: Site | None = None
FUZZ_LOOP: asyncio.AbstractEventLoop = asyncio.new_event_loop()


@pytest.fixture(autouse=True)
def _fuzz_site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fuzz test shares one served system (SQLite) across its examples."""
    global FUZZ_SITE
    if request.node.name != "test_fuzzed_bodies_never_get_a_5xx":
        yield
        return
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    system, _ = make_system(
        tmp_path, f"sqlite:///{tmp_path / 'fuzz.db'}", config(), adapter=WebChatAdapter(), monkeypatch=monkeypatch
    )  # type: ignore[arg-type]
    app = build_app(system)
    token, _ = create_token(system.db, "alice")
    lifespan = app.router.lifespan_context(app)
    FUZZ_LOOP.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30)
    FUZZ_SITE = Site(system, client, token)
    yield
    FUZZ_LOOP.run_until_complete(client.aclose())
    FUZZ_LOOP.run_until_complete(lifespan.__aexit__(None, None, None))
    system.db.dispose()
    FUZZ_SITE = None


async def test_a_chunked_body_past_the_cap_gets_413_before_anything_reads_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = demo_data()
    data["server"]["max_body_bytes"] = 64 * 1024
    async with serve(tmp_path, db_url, monkeypatch, data) as web:
        token, _ = create_token(web.system.db, "alice")
        before = Site(web.system, None, token).written()  # type: ignore[arg-type]

        host, port = web.base.removeprefix("http://").split(":")

        async def chunked_past_the_cap(path: str) -> bytes:
            """Chunked (no Content-Length), 80 KiB sent, then wait for the answer."""
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            for _ in range(10):
                writer.write(b"2000\r\n" + b"x" * 0x2000 + b"\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(2000), 30)
            writer.close()
            return answer

        for path in ("/api/channels/ops/messages", "/hooks/alertmanager", "/login", "/nowhere"):
            answer = await chunked_past_the_cap(path)
            assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])
            assert b"larger than 65536 bytes" in answer
        assert Site(web.system, None, token).written() == before  # type: ignore[arg-type]
        async with httpx.AsyncClient(base_url=web.base, timeout=30) as http:
            small = await http.post(
                "/api/channels/ops/messages", json={"text": "hello"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert small.status_code == 201  # the cap is on size, not on posting


async def sign_in_address(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, trusted: list[str]) -> str:
    tmp_path.mkdir(exist_ok=True)
    data = demo_data()
    data["server"]["trusted_proxies"] = trusted
    system, _ = make_system(
        tmp_path,
        db_url,
        data,
        adapter=WebChatAdapter(),  # type: ignore[arg-type]
        monkeypatch=monkeypatch,
    )
    app = build_app(system)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        page = await c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = await c.post(
            "/login",
            data={"username": "alice", "password": "", "csrf": csrf},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        assert answer.status_code == 303, answer.text
    with system.db.read() as conn:
        from opsroom.store.tables import audit_log

        row = conn.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.action == "web.signin")
            .order_by(audit_log.c.id.desc())
            .limit(1)
        ).scalar_one()
    system.db.dispose()
    detail = row if isinstance(row, dict) else json.loads(row)
    return str(detail["address"])


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await sign_in_address(tmp_path / "a", db_url, monkeypatch, []) == "203.0.113.7"
    assert await sign_in_address(tmp_path / "b", db_url, monkeypatch, ["10.0.0.0/8"]) == "203.0.113.7"
    assert await sign_in_address(tmp_path / "c", db_url, monkeypatch, ["203.0.113.7"]) == "198.51.100.99"


async def test_passwords_are_checked_off_the_event_loop(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = signin.verify_password

    def spy(stored: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(stored, password)

    monkeypatch.setattr(signin, "verify_password", spy)
    site.client.cookies.clear()  # signed out
    page = await site.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    await asyncio.gather(
        *(site.client.post("/login", data={"username": "nobody", "password": "x" * 12, "csrf": csrf}) for _ in range(4))
    )
    assert len(threads) == 4 and threading.main_thread().name not in threads
