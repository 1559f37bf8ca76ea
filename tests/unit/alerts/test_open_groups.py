"""Intake keeps open groups' rows between its transactions (``alerts/open_groups.py``): what
is stored and posted is what reading every group again gives, and anything written by
someone else since — on the same connection, on another one, or a rolled-back batch — makes
the next batch read the store again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.fakes.alert_fakes import FakeAudit, FakeClock, RecordingHub, fake_mint

from opsroom.alerts import group_state, open_groups
from opsroom.alerts.batch import rows_where_in
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_events, alert_groups, alerts
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Principal
from opsroom.store import Database, create_db_engine

BOB = Principal(name="bob")


def _db(path: Path) -> Database:
    database = Database(create_db_engine(f"sqlite:///{path}"))
    database.migrate()
    return database


def _service(db: Database, **kwargs: Any) -> tuple[AlertService, RecordingHub, FakeClock]:
    hub, clock = RecordingHub(), FakeClock()
    config = AlertsConfig.model_validate(
        {
            "grouping": {"group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m"},
            "flapping": {"window": "10m", "max_changes": 3},
        }
    )
    svc = AlertService(config, db, hub, mint=kwargs.get("mint", fake_mint), audit_append=FakeAudit(), clock=clock)
    return svc, hub, clock


def _alert(name: str, instance: str, status: str = "firing") -> Alert:
    return Alert(
        fingerprint=f"{name}-{instance}",
        status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "instance": instance, "severity": "critical"},
        annotations={"summary": f"{name} on {instance}"},
        source="am",
        source_type="alertmanager",
    )


def _tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.read() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in (alert_groups, alerts, alert_events)
        }


class _NeverKept(open_groups.OpenGroups):
    """Reads every group each time: what intake did before it kept rows."""

    def take(self, conn: Any) -> None:  # type: ignore[override]
        return None


async def _scenario(svc: AlertService, clock: FakeClock, db: Database) -> list[Any]:
    """Batches over several groups with the notifier, an ack, a silence, flapping, resolution
    and reopening in between; returns each step's intake answer."""
    out: list[Any] = []
    names = ["Disk", "Cpu", "Mem", "Net"]
    for step in range(14):
        batch = [_alert(n, f"h{(step + i) % 3}") for i, n in enumerate(names[: 2 + step % 3])]
        if step % 4 == 3:  # resolve some, fire others again: flapping over the window
            batch = [_alert("Disk", "h0", "resolved"), _alert("Cpu", "h1", "resolved"), *batch[2:]]
        out.append((await svc.ingest("am", batch)).as_dict())
        clock.advance(20)
        if step % 3 == 2:
            await svc.tick()  # posts and reschedules: writes groups behind intake's back
        if step == 6:
            await svc.ack(svc.find_group("Cpu").id, BOB)
        if step == 9:
            await svc.silence(svc.find_group("Mem").id, 600, BOB)
        if step == 11:
            everything = [_alert(n, f"h{i}", "resolved") for n in names for i in range(3)]
            out.append((await svc.ingest("am", everything)).as_dict())
            clock.advance(400)
            await svc.tick()  # posts the resolutions and closes the groups
    await svc.stop()
    return out


async def test_kept_rows_store_and_post_what_reading_every_group_gives(tmp_path: Path) -> None:
    kept_db, plain_db = _db(tmp_path / "kept.db"), _db(tmp_path / "plain.db")
    kept, kept_hub, kept_clock = _service(kept_db)
    plain, plain_hub, plain_clock = _service(plain_db)
    plain.ctx.open_groups = _NeverKept()
    answers = await _scenario(kept, kept_clock, kept_db)
    assert answers == await _scenario(plain, plain_clock, plain_db)
    assert _tables(kept_db) == _tables(plain_db)
    assert [(p.place, p.message.text) for p in kept_hub.posts] == [(p.place, p.message.text) for p in plain_hub.posts]
    assert len(kept_hub.posts) >= 4  # the scenario did post
    kept_db.dispose()
    plain_db.dispose()


def _groups(db: Database) -> list[tuple[int, str | None]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(alert_groups.c.id, alert_groups.c.open_key).order_by("id"))]  # type: ignore[misc]


def _group_of(db: Database, fingerprint: str) -> int:
    with db.read() as conn:
        return conn.execute(select(alerts.c.group_id).where(alerts.c.fingerprint == fingerprint)).scalar_one()


@pytest.mark.parametrize("writer", ["same connection", "another connection"])
async def test_a_group_closed_by_someone_else_is_not_used_again(tmp_path: Path, writer: str) -> None:
    db = _db(tmp_path / "a.db")
    svc, _hub, clock = _service(db)
    await svc.ingest("am", [_alert("Disk", "h0")])
    [(gid, key)] = _groups(db)
    assert key is not None
    other = db if writer == "same connection" else _db(tmp_path / "a.db")
    with other.begin() as conn:  # e.g. the notifier posted its resolution, or another process
        group_state.close(conn, gid, clock())
    clock.advance(3600)
    await svc.ingest("am", [_alert("Disk", "h1")])
    groups = _groups(db)
    assert groups == [(gid, None), (groups[1][0], key)]  # a new open group, not the closed one
    assert _group_of(db, "Disk-h1") == groups[1][0]
    await svc.stop()
    if other is not db:
        other.dispose()
    db.dispose()


async def test_a_changed_group_row_is_read_again(tmp_path: Path) -> None:
    db = _db(tmp_path / "b.db")
    svc, _hub, clock = _service(db)
    await svc.ingest("am", [_alert("Disk", "h0")])
    [(gid, _key)] = _groups(db)
    due = clock() + dt.timedelta(hours=5)
    with db.begin() as conn:  # as if the notifier had posted and rescheduled it
        conn.execute(update(alert_groups).where(alert_groups.c.id == gid).values(delivery="digest", next_due_at=due))
    await svc.ingest("am", [_alert("Disk", "h1")])
    with db.read() as conn:
        row = conn.execute(select(alert_groups.c.next_due_at).where(alert_groups.c.id == gid)).one()
    # A digested group is due at once when it changes; the kept row (pending, due at +30s)
    # would have left the five hours in place.
    assert row.next_due_at.replace(tzinfo=dt.UTC) == clock()
    await svc.stop()
    db.dispose()


async def test_a_batch_rolled_back_leaves_nothing_kept(tmp_path: Path) -> None:
    db = _db(tmp_path / "c.db")
    svc, _hub, _clock = _service(db)
    audit = FakeAudit()
    fail = [True]

    def failing_audit(conn: Any, **kwargs: Any) -> None:
        if fail[0]:
            raise RuntimeError("the audit row could not be written")
        audit(conn, **kwargs)

    svc.ctx.audit_append = failing_audit
    with pytest.raises(RuntimeError):
        await svc.ingest("am", [_alert("Disk", "h0")])  # its group was inserted, then rolled back
    assert _groups(db) == []
    fail[0] = False
    await svc.ingest("am", [_alert("Disk", "h1")])
    [(gid, _key)] = _groups(db)
    assert _group_of(db, "Disk-h1") == gid
    await svc.stop()
    db.dispose()


def test_the_kept_row_has_the_columns_intake_reads() -> None:
    assert open_groups._Row._fields == ("open_key", *(c.name for c in group_state.GROUP_COLUMNS))


async def test_kept_rows_are_the_rows_as_stored(tmp_path: Path) -> None:
    """After each batch every kept row is what reading the group gives (its status,
    flapping, delivery and due time as intake's own UPDATEs left them)."""
    db = _db(tmp_path / "d.db")
    svc, _hub, clock = _service(db)
    for step in range(8):
        status = "resolved" if step % 3 == 2 else "firing"
        await svc.ingest("am", [_alert(n, f"h{step % 2}", status) for n in ("Disk", "Cpu", "Mem")])
        clock.advance(7)
        kept = svc.ctx.open_groups._rows
        assert set(kept) == {k for _, k in _groups(db) if k is not None}
        with db.read() as conn:
            stored = rows_where_in(
                conn, (alert_groups.c.open_key, *group_state.GROUP_COLUMNS), alert_groups.c.open_key, list(kept)
            )
        assert sorted(map(tuple, kept.values())) == sorted(map(tuple, stored))
    await svc.stop()
    db.dispose()
