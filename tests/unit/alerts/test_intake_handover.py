"""The parse thread hands a decoded webhook payload straight to the alert thread
(``AlertService.ingest_decoded``): payloads are still stored in the order they arrived, each
caller is answered after its commit, and no way out of decoding or queueing leaves a caller
waiting forever or stores a payload whose caller was told it failed or went away."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import pytest
from sqlalchemy import func, select
from tests.fakes.alert_fakes import FakeAudit, RecordingHub, fake_mint

from opsroom.alerts import ingest
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.config.alerts import AlertsConfig
from opsroom.store import Database

HANG_GUARD = 30.0  # a caller left waiting fails the test instead of hanging it


def _alerts(name: str, n: int, status: str = "firing") -> list[Alert]:
    return [
        Alert(fingerprint=f"{name}-{i}", status=status, labels={"alertname": name, "instance": f"h{i}"})  # type: ignore[arg-type]
        for i in range(n)
    ]


def _service(db: Database) -> AlertService:
    config = AlertsConfig.model_validate({"sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}}})
    return AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())


def _stored(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return {fp: status for fp, status in conn.execute(select(alerts.c.fingerprint, alerts.c.status))}


def _count(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(alerts)).scalar_one()


def _hold(executor: ThreadPoolExecutor | None) -> threading.Event:
    """Keep ``executor``'s one thread busy until the returned event is set."""
    assert executor is not None
    release = threading.Event()
    executor.submit(release.wait)
    return release


def _decode(batch: Sequence[Alert] | None) -> Any:
    return lambda: batch


def test_payloads_are_stored_in_the_order_they_arrived(db: Database) -> None:
    service = _service(db)

    async def run() -> list[Any]:
        release = _hold(service.ctx.executor)
        # Fired, then resolved, then fired again: only arrival order gives the last status.
        calls = [
            asyncio.ensure_future(service.ingest_decoded("am", _decode(_alerts("Disk", 2, status))))
            for status in ("firing", "resolved", "firing")
        ]
        calls.append(asyncio.ensure_future(service.ingest_decoded("am", _decode(_alerts("Disk", 1, "resolved")))))
        await asyncio.sleep(0.05)
        assert not any(c.done() for c in calls)  # nothing answered before its commit
        release.set()
        return await asyncio.wait_for(asyncio.gather(*calls), HANG_GUARD)

    results = asyncio.run(run())
    assert [(r.accepted, r.new, r.changed) for r in results] == [(2, 2, 0), (2, 0, 2), (2, 0, 2), (1, 0, 1)]
    assert _stored(db) == {"Disk-0": "resolved", "Disk-1": "firing"}


def test_a_body_the_decoder_leaves_undecided_stores_nothing(db: Database) -> None:
    service = _service(db)
    assert asyncio.run(asyncio.wait_for(service.ingest_decoded("am", _decode(None)), HANG_GUARD)) is None
    assert _count(db) == 0


def test_what_the_decoder_raises_reaches_the_caller_and_nothing_is_stored(db: Database) -> None:
    service = _service(db)

    def broken() -> list[Alert]:
        raise ValueError("a bug in the decoder")

    async def run() -> None:
        with pytest.raises(ValueError, match="a bug in the decoder"):
            await asyncio.wait_for(service.ingest_decoded("am", broken), HANG_GUARD)
        # The parse thread is still there for the next body.
        await asyncio.wait_for(service.ingest_decoded("am", _decode(_alerts("Cpu", 3))), HANG_GUARD)

    asyncio.run(run())
    assert _count(db) == 3


def test_a_caller_gone_before_its_payload_was_queued_stores_nothing(db: Database) -> None:
    service = _service(db)

    async def run() -> None:
        release = _hold(service.ctx.parse_executor)
        gone = asyncio.ensure_future(service.ingest_decoded("am", _decode(_alerts("Gone", 2))))
        await asyncio.sleep(0.05)
        gone.cancel()  # the request was cancelled (the sender hung up) while its body waited
        release.set()
        kept = await asyncio.wait_for(service.ingest_decoded("am", _decode(_alerts("Kept", 2))), HANG_GUARD)
        assert kept is not None and kept.new == 2

    asyncio.run(run())
    assert set(_stored(db)) == {"Kept-0", "Kept-1"}


def test_a_payload_refused_at_shutdown_is_never_stored_later(db: Database) -> None:
    service = _service(db)
    assert service.ctx.executor is not None
    service.ctx.executor.shutdown()

    async def run() -> None:
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(service.ingest_decoded("am", _decode(_alerts("Refused", 2))), HANG_GUARD)
        # A new alert thread (as after a restart of the part): the refused payload stays refused.
        service.ctx.executor = ThreadPoolExecutor(1)
        await asyncio.wait_for(service.ingest_decoded("am", _decode(_alerts("After", 1))), HANG_GUARD)

    asyncio.run(run())
    assert set(_stored(db)) == {"After-0"}


def _routed(db: Database, channel: str) -> AlertService:
    config = AlertsConfig.model_validate(
        {
            "sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}},
            "routes": [{"name": "disk", "match": {"alertname": "Disk"}, "channels": [channel]}],
        }
    )
    return AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())


def _channels(db: Database) -> list[tuple[str, int]]:
    with db.read() as conn:
        rows = conn.execute(
            select(alert_groups.c.channel_name, func.count())
            .select_from(alerts.join(alert_groups, alerts.c.group_id == alert_groups.c.id))
            .group_by(alert_groups.c.channel_name)
        )
        return sorted((channel, n) for channel, n in rows)


def test_a_batch_planned_on_the_parse_thread_lands_where_its_routes_say(db: Database) -> None:
    """``ingest.prepare`` plans the groups before the alert thread stores them: the same
    groups as planned there; a batch planned for another service's routes (another config)
    is planned again by the one that stores it."""
    here, elsewhere = _routed(db, "#disk-here"), _routed(db, "#disk-elsewhere")
    batch = _alerts("Disk", 3) + _alerts("Cpu", 2)

    async def run() -> None:
        await asyncio.wait_for(service_ingest(here, ingest.prepare(here.ctx, batch[:4])), HANG_GUARD)
        await asyncio.wait_for(service_ingest(here, ingest.prepare(elsewhere.ctx, batch[4:])), HANG_GUARD)
        await asyncio.wait_for(service_ingest(elsewhere, ingest.prepare(here.ctx, _alerts("Disk", 2))), HANG_GUARD)

    asyncio.run(run())
    # Disk-0..2 in here's #disk-here; Cpu (no route) in the default channel both times;
    # elsewhere's Disk-0..1 in its own channel although they were planned by here.
    assert _channels(db) == sorted([("#disk-here", 3), ("#alerts", 2), ("#disk-elsewhere", 2)])


async def service_ingest(service: AlertService, batch: Sequence[Alert]) -> Any:
    return await service.ingest_decoded("am", _decode(batch))


def test_stop_returns_only_after_the_threads_finished_what_they_were_handed(db: Database) -> None:
    """A caller that stops waiting (cancelled, the server shutting down) does not stop the
    thread: ``stop`` waits for it, so nothing of ours still reads or writes afterwards."""
    service = _service(db)

    async def run() -> tuple[bool, bool]:
        release = _hold(service.ctx.executor)
        call = asyncio.ensure_future(service.ingest_decoded("am", _decode(_alerts("Disk", 3))))
        await asyncio.sleep(0.05)
        call.cancel()  # the caller goes away; its payload is already on its way to the thread
        stopping = asyncio.ensure_future(service.stop())
        await asyncio.sleep(0.1)
        still_waiting = not stopping.done()
        release.set()
        await asyncio.wait_for(stopping, HANG_GUARD)
        return still_waiting, _count(db) in (0, 3)  # stored whole or not at all, never half

    still_waiting, whole = asyncio.run(run())
    assert still_waiting, "stop returned while the alert thread was still busy"
    assert whole
