"""Payloads that arrive while the alert thread is busy are stored together with one commit:
each sender still gets its own counts, every alert is stored once, and a payload whose
storing fails fails alone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from tests.fakes.alert_fakes import FakeAudit, RecordingHub, fake_mint

from opsroom.alerts import ingest
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.config.alerts import AlertsConfig
from opsroom.store import Database


def _alerts(name: str, n: int, start: int = 0) -> list[Alert]:
    return [
        Alert(fingerprint=f"{name}-{i}", status="firing", labels={"alertname": name, "instance": f"h{i}"})
        for i in range(start, start + n)
    ]


def _service(db: Database) -> AlertService:
    config = AlertsConfig.model_validate({"sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}}})
    return AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())


async def _while_busy(service: AlertService, payloads: list[tuple[str, list[Alert]]]) -> list[Any]:
    """Ingest ``payloads`` at once while the alert thread is held, so they wait together."""
    assert service.ctx.executor is not None
    release = threading.Event()
    held = asyncio.get_running_loop().run_in_executor(service.ctx.executor, release.wait)
    calls = [asyncio.ensure_future(service.ingest(source, batch)) for source, batch in payloads]
    await asyncio.sleep(0.05)
    assert not any(c.done() for c in calls)  # nothing answered before its commit
    release.set()
    await held
    return await asyncio.gather(*calls, return_exceptions=True)


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(alerts)).scalar_one(),
            conn.execute(select(func.count()).select_from(alert_groups)).scalar_one(),
        )


def test_payloads_waiting_together_are_each_stored_and_answered(db: Database) -> None:
    service = _service(db)
    payloads = [("am", _alerts("Disk", 3)), ("am", _alerts("Disk", 2, start=2)), ("am", _alerts("Cpu", 4))]
    results = asyncio.run(_while_busy(service, payloads))
    # The second repeats Disk-2 from the first: it sees the first's writes, as if sent after it.
    assert [(r.accepted, r.new, r.groups) for r in results] == [(3, 3, 1), (2, 1, 0), (4, 4, 1)]
    assert _counts(db) == (8, 2)


def test_a_payload_that_fails_to_store_fails_alone(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ingest._store

    def store(ctx: Any, conn: Any, source: str, batch: Any, now: Any, *kept: Any) -> Any:
        if source == "broken":
            raise IntegrityError("INSERT", {}, Exception("the database refused it"))
        return real(ctx, conn, source, batch, now, *kept)

    monkeypatch.setattr(ingest, "_store", store)
    service = _service(db)
    payloads = [("am", _alerts("Disk", 3)), ("broken", _alerts("Mem", 2)), ("am", _alerts("Cpu", 4))]
    first, broken, last = asyncio.run(_while_busy(service, payloads))
    assert isinstance(broken, IntegrityError)
    assert (first.new, last.new) == (3, 4)
    assert _counts(db) == (7, 2)
