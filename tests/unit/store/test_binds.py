"""DriverStatement's bind processors give exactly SQLAlchemy's values (store/binds.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import JSON, DateTime, String
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg

from opsroom.store.binds import bind_processor
from opsroom.store.types import UTCDateTime

DIALECT = sqlite.dialect()
VALUES = [
    None,
    dt.datetime(2026, 12, 4, 16, 0, 0, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 4, 16, 0, 0, tzinfo=dt.UTC),  # no microseconds: still six zeros
    dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # not UTC
    dt.datetime(5, 1, 1, 0, 0, 0),  # naive, a year of one digit
    dt.date(2026, 12, 4),  # a date, not a datetime
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("timezone", [False, True])
def test_a_sqlite_datetime_is_stored_as_sqlalchemy_stores_it(value: object, timezone: bool) -> None:
    theirs = DateTime(timezone=timezone).dialect_impl(DIALECT).bind_processor(DIALECT)
    assert bind_processor(DateTime(timezone=timezone), DIALECT)(value) == theirs(value)


@pytest.mark.parametrize("value", VALUES)
def test_opsrooms_utc_columns_are_stored_as_sqlalchemy_stores_them(value: object) -> None:
    # runs.created_at, audit_log.ts…: a TypeDecorator (as_utc first), the same text either way
    theirs = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert bind_processor(UTCDateTime(), DIALECT)(value) == theirs(value)


@pytest.mark.parametrize("value", VALUES[:5])
def test_on_postgresql_a_utc_column_keeps_sqlalchemys_processor(value: object) -> None:
    pg = psycopg.dialect()
    theirs = UTCDateTime().dialect_impl(pg).bind_processor(pg)
    assert bind_processor(UTCDateTime(), pg)(value) == theirs(value)  # as_utc's aware datetime


def test_a_utc_column_skips_sqlalchemys_formatting_for_a_utc_value(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(UTCDateTime, "process_bind_param", lambda self, v, d: calls.append(v) or v)
    ours = bind_processor(UTCDateTime(), DIALECT)
    stamp = dt.datetime(2026, 12, 4, 16, 0, 0, 5, tzinfo=dt.UTC)
    assert ours(stamp) == "2026-12-04 16:00:00.000005"
    assert calls == []  # the shortcut; a value in another zone still goes through as_utc
    ours(dt.datetime(2026, 12, 4, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
    assert len(calls) == 1


def test_a_value_sqlalchemy_refuses_is_refused_the_same_way() -> None:
    with pytest.raises(TypeError):
        bind_processor(DateTime(), DIALECT)("2026-12-04")


def test_other_types_keep_sqlalchemys_processor() -> None:
    for type_ in (String(), JSON()):
        ours, theirs = bind_processor(type_, DIALECT), type_.dialect_impl(DIALECT).bind_processor(DIALECT)
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert ours({"a": [1, "é"]}) == theirs({"a": [1, "é"]})
