"""Column types shared by every table."""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from opsroom.clock import utcnow as utcnow  # re-exported: the stores use it


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """An aware UTC datetime: naive values are taken to be UTC (everything we store is)."""
    if value is None or value.tzinfo is dt.UTC:  # already UTC: the same (immutable) value
        return value
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that always comes back as an aware UTC datetime, on SQLite (which hands
    back naive values) as on PostgreSQL (which answers in the session's time zone), so no
    caller has to patch it up."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return as_utc(value) if isinstance(value, dt.datetime) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return as_utc(value) if isinstance(value, dt.datetime) else value
