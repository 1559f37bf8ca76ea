"""Bind processors for ``DriverStatement`` (store/driver.py): SQLAlchemy's own, except where a
cheaper function gives the very same value.

SQLite stores a ``DateTime`` as text, which SQLAlchemy formats with ``%``-formatting of a
dict of seven fields (≈ 2 µs); ``datetime.isoformat`` writes the same text in a quarter of
that. Every command binds three (a run's created, started and finished times), and alert
intake more. opsroom's own columns are ``UTCDateTime`` (store/types.py), a TypeDecorator whose
``as_utc`` leaves a UTC or naive value's fields as they are: those take the same shortcut.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME

from opsroom.store.types import UTCDateTime


def bind_processor(type_: Any, dialect: Any) -> Any:
    """The processor SQLAlchemy would apply to a value of ``type_`` on ``dialect``, or an
    equivalent one (same output for every input)."""
    impl = type_.dialect_impl(dialect)
    slow = impl.bind_processor(dialect)
    if slow is None:
        return None
    if isinstance(impl, UTCDateTime):
        if not _default_format(impl.impl_instance.dialect_impl(dialect)):
            return slow

        def process_utc(value: Any) -> Any:
            # as_utc gives a UTC or naive value the UTC zone and keeps its fields; another
            # zone is converted first, by theirs.
            if value.__class__ is datetime and (value.tzinfo is UTC or value.tzinfo is None):
                return value.isoformat(" ", "microseconds")[:26]
            return slow(value)

        return process_utc
    if not _default_format(impl):
        return slow

    def process(value: Any) -> Any:
        # YYYY-MM-DD HH:MM:SS.ffffff: the default format's text (the offset of an aware
        # datetime cut off, as that format leaves it out); anything else goes to theirs.
        if value.__class__ is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return slow(value)

    return process


def _default_format(impl: Any) -> bool:
    """SQLite's DATETIME with SQLAlchemy's default storage format (a custom one: theirs)."""
    return isinstance(impl, SQLITE_DATETIME) and impl._storage_format == SQLITE_DATETIME._storage_format
