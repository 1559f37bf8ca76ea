"""End to end with the real Prometheus and Alertmanager from Debian (apt packages
``prometheus`` and ``prometheus-alertmanager``), all on 127.0.0.1.

Prometheus evaluates two rules every second; Alertmanager groups by alertname and posts its
webhook to opsroom's intake served by uvicorn. We check that the alerts land in a channel,
that the Silence button creates a silence Alertmanager reports active, and that a resolved
notification edits the same message.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from tests.fakes.alert_fakes import FakeAudit, Posted, RecordingHub

from opsroom.actions import ActionSigner
from opsroom.alerts.http import routes
from opsroom.alerts.service import AlertService
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Place, Principal
from opsroom.store import Database

pytestmark = pytest.mark.slow
TOKEN = "e2e-token-4d9f"

if not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")):
    pytest.fail("apt-get install -y prometheus prometheus-alertmanager (see .ci/run)", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


RULES = """groups:
- name: e2e
  interval: 1s
  rules:
  - alert: E2EAlwaysFiring
    expr: vector(1) > 0
    for: 0s
    labels: {{severity: critical, service: e2e}}
    annotations: {{summary: "always firing", runbook_url: "http://127.0.0.1/runbook"}}
  - alert: E2EFlipping
    expr: {flip}
    for: 0s
    labels: {{severity: warning, service: e2e}}
    annotations: {{summary: "fires until the rule is changed"}}
"""


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def start(argv: list[str], log: Path) -> asyncio.subprocess.Process:
    handle = log.open("wb")
    return await asyncio.create_subprocess_exec(*argv, stdout=handle, stderr=handle, cwd=log.parent)


async def ready(url: str, timeout: float = 20.0) -> None:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    hook_port, am_port, prom_port = free_port(), free_port(), free_port()
    db = Database.open(f"sqlite:///{tmp_path / 'opsroom.db'}")
    hub = RecordingHub()
    signer = ActionSigner(b"e2e-key")
    config = AlertsConfig.model_validate(
        {
            "sources": {"alertmanager": {"type": "alertmanager", "token_env": "E2E_AM_TOKEN"}},
            "grouping": {"group_by": ["alertname"], "group_wait": 0, "group_interval": "1s"},
            "tick": 0.2,
            "silenced_poll": 1,
        }
    )
    service = AlertService(config, db, hub, mint=signer.mint, audit_append=FakeAudit())
    app = Starlette(routes=routes(service, env={"E2E_AM_TOKEN": TOKEN}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=hook_port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    await service.start()

    (tmp_path / "am").mkdir()
    (tmp_path / "am.yml").write_text(f"""route:
  receiver: opsroom
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: opsroom
  webhook_configs:
  - url: http://127.0.0.1:{hook_port}/hooks/alertmanager
    send_resolved: true
    http_config:
      authorization: {{type: Bearer, credentials: {TOKEN}}}
""")
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.format(flip="vector(1) > 0"))
    (tmp_path / "prom.yml").write_text(f"""global: {{evaluation_interval: 1s}}
rule_files: [{rules}]
alerting:
  alertmanagers:
  - static_configs:
    - targets: ['127.0.0.1:{am_port}']
""")
    am = await start(
        [
            "prometheus-alertmanager",
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
            f"--web.external-url=http://127.0.0.1:{am_port}",
        ],
        tmp_path / "am.log",
    )
    prom = await start(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prom.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=2s",
        ],
        tmp_path / "prom.log",
    )
    try:
        await ready(f"http://127.0.0.1:{am_port}/-/ready")
        await ready(f"http://127.0.0.1:{prom_port}/-/ready")
        yield {
            "service": service,
            "hub": hub,
            "signer": signer,
            "am": f"http://127.0.0.1:{am_port}",
            "prom": prom,
            "rules": rules,
            "tmp": tmp_path,
        }
    finally:
        for proc in (prom, am):
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        await service.stop()
        server.should_exit = True
        await serving
        db.dispose()


def post_for(hub: RecordingHub, alertname: str) -> Posted | None:
    found = [p for p in hub.top_level() if alertname in p.message.as_text()]
    return found[0] if found else None


async def test_real_alert_lands_is_silenced_and_resolves_in_place(stack: dict[str, Any]) -> None:
    hub: RecordingHub = stack["hub"]
    service: AlertService = stack["service"]
    started = time.monotonic()
    firing = await wait_for(lambda: post_for(hub, "always firing"), 40, "the first alert in chat")
    flipping = await wait_for(lambda: post_for(hub, "fires until the rule is changed"), 15, "the second alert")
    assert firing.message.text == "[FIRING:1] always firing"
    assert firing.place.channel_name == "#alerts"
    first_seen = time.monotonic() - started

    # Click "Silence 1h": the engine would verify the signed id; we open it the same way.
    button = next(b for b in firing.current.buttons() if b.label == "Silence 1h")
    kind, payload, _, _ = stack["signer"].open(button.action_id)
    reply = await service.handle_action(kind, payload, Principal("alice"), Place("web", "#alerts"))
    assert reply is not None and "Alertmanager silence" in reply.text, reply
    async with httpx.AsyncClient() as client:
        silences = (await client.get(f"{stack['am']}/api/v2/silences")).json()
    active = [s for s in silences if s["status"]["state"] == "active"]
    assert len(active) == 1
    assert {"name": "alertname", "value": "E2EAlwaysFiring", "isRegex": False, "isEqual": True} in active[0]["matchers"]
    assert active[0]["createdBy"] == "alice"

    # Stop the second rule from firing (same alert name and labels, expression now false).
    stack["rules"].write_text(
        (stack["tmp"] / "rules.yml")
        .read_text()
        .replace(
            "expr: vector(1) > 0\n    for: 0s\n    labels: {severity: warning",
            "expr: vector(1) < 0\n    for: 0s\n    labels: {severity: warning",
        )
    )
    assert "vector(1) < 0" in stack["rules"].read_text()
    os.kill(stack["prom"].pid, signal.SIGHUP)
    await wait_for(lambda: flipping.current.text.startswith("[RESOLVED]"), 30, "the resolved edit")
    assert post_for(hub, "fires until the rule is changed") is flipping  # edited, not re-posted
    assert len([p for p in hub.top_level() if "fires until" in p.message.as_text()]) == 1
    assert any("resolved" in p.message.as_text() for p in hub.thread(flipping.ref))
    print(f"first alert in chat after {first_seen:.1f}s, whole test {time.monotonic() - started:.1f}s")


async def test_real_alert_silenced_then_resolved_shows_resolved(stack: dict[str, Any]) -> None:
    """Alertmanager drops notifications of silenced alerts, resolutions included, so opsroom
    must learn of the resolution itself; the card and `/alerts all` must not stay FIRING."""
    hub: RecordingHub = stack["hub"]
    service: AlertService = stack["service"]
    flipping = await wait_for(lambda: post_for(hub, "fires until the rule is changed"), 40, "the alert")
    button = next(b for b in flipping.current.buttons() if b.label == "Silence 1h")
    kind, payload, _, _ = stack["signer"].open(button.action_id)
    reply = await service.handle_action(kind, payload, Principal("alice"), Place("web", "#alerts"))
    assert reply is not None and "Alertmanager silence" in reply.text, reply

    stack["rules"].write_text(
        stack["rules"]
        .read_text()
        .replace(
            "expr: vector(1) > 0\n    for: 0s\n    labels: {severity: warning",
            "expr: vector(1) < 0\n    for: 0s\n    labels: {severity: warning",
        )
    )
    os.kill(stack["prom"].pid, signal.SIGHUP)
    await wait_for(lambda: flipping.current.text.startswith("[RESOLVED]"), 40, "the resolved edit")
    group = service.find_group(payload["group"])
    assert group.status == "resolved" and group.closed_at is not None
