"""The duplicate marker (engine/delivery.py), written on SQLite straight to the driver, is the
row SQLAlchemy wrote, and a repeat of a delivery is still refused — on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from opsroom.engine.delivery import Delivery, Duplicate
from opsroom.store import Database
from opsroom.store.tables import processed_events


def test_a_marker_is_stored_once_and_a_repeat_is_refused(db: Database) -> None:
    long_id = "Ev-" + "x" * 300  # ids are cut to the column's 200 characters
    with db.begin() as conn:
        Delivery(long_id, "slack").claim(conn)
    with pytest.raises(Duplicate), db.begin() as conn:
        Delivery(long_id, "slack").claim(conn)
    with db.read() as conn:
        rows = conn.execute(select(processed_events)).all()
        raw = conn.execute(text("SELECT CAST(seen_at AS TEXT) FROM processed_events")).scalar_one()
    assert [(r.event_id, r.platform) for r in rows] == [(long_id[:200], "slack")]
    assert abs(rows[0].seen_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    if db.engine.dialect.name == "sqlite":  # SQLAlchemy's DateTime text, as before
        assert len(raw) == 26 and raw[10] == " " and raw[19] == "."


def test_claiming_twice_in_one_transaction_is_a_no_op(db: Database) -> None:
    delivery = Delivery("Ev-1", "mattermost")
    with db.begin() as conn:
        delivery.claim(conn)
        delivery.claim(conn)  # one event may write more than once
    with db.read() as conn:
        assert conn.execute(select(processed_events.c.event_id)).scalars().all() == ["Ev-1"]
