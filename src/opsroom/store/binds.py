"""Bind processors for ``DriverStatement`` (store/driver.py): SQLAlchemy's own, except where a
cheaper function gives the very same value.

SQLite stores a ``DateTime`` as text, which SQLAlchemy formats with ``%``-formatting of a
dict of seven fields (≈ 2 µs); ``datetime.isoformat`` writes the same text in a quarter of
that. Every command binds three (a run's created, started and finished times), and alert
intake more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME


def bind_processor(type_: Any, dialect: Any) -> Any:
    """The processor SQLAlchemy would apply to a value of ``type_`` on ``dialect``, or an
    equivalent one (same output for every input)."""
    impl = type_.dialect_impl(dialect)
    slow = impl.bind_processor(dialect)
    if slow is None or not isinstance(impl, SQLITE_DATETIME):
        return slow
    if impl._storage_format != SQLITE_DATETIME._storage_format:  # a custom format: theirs
        return slow

    def process(value: Any) -> Any:
        # YYYY-MM-DD HH:MM:SS.ffffff: the default format's text (the offset of an aware
        # datetime cut off, as that format leaves it out); anything else goes to theirs.
        if value.__class__ is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return slow(value)

    return process
