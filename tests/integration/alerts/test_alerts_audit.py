"""Alert state changes and their audit entries commit together, with the real AuditLog."""

from __future__ import annotations

from sqlalchemy import select
from tests.fakes.alert_fakes import FakeClock, RecordingHub, fake_mint

from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.audit.log import AuditLog
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Principal
from opsroom.store import Database
from opsroom.store.tables import audit_log


async def test_intake_post_ack_and_mute_are_in_the_verified_audit_chain(db: Database) -> None:
    audit = AuditLog(db)
    service = AlertService(
        AlertsConfig.model_validate({"grouping": {"group_wait": 0}}),
        db,
        RecordingHub(),
        mint=fake_mint,
        audit_append=audit.append,
        clock=FakeClock(),
    )
    await service.ingest(
        "up",
        [
            Alert(
                "f1",
                "firing",
                {"alertname": "Disk", "severity": "critical"},
                {"summary": "disk full"},
                source="up",
            )
        ],
    )
    await service.tick()
    await service.ack(1, Principal("alice"))
    await service.silence(1, 3600, Principal("bob"))
    with db.read() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action).order_by(audit_log.c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("source:up", "alert.intake"),
        ("opsroom", "alert.notify"),
        ("alice", "alert.ack"),
        ("bob", "alert.silence"),
    ]
    assert audit.verify().ok
