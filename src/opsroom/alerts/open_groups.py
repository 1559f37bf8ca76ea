"""Open groups' rows as intake last read or wrote them, kept from one intake transaction to
the next so a batch need not read its groups again (SQLite only).

Every batch reads the rows of the groups it touches (``ingest._store``: one indexed look-up
per group, ≈ 3 µs an alert when each batch touches a hundred groups). Those rows only change
when someone writes, so intake keeps them, with the groups' changes its own statements made
applied, and uses them again only while nothing else can have written since:

- nobody else on the same connection: SQLite's ``total_changes`` of the connection (every
  row any INSERT, UPDATE or DELETE on it changed, triggers and cascades included, never
  decremented by a rollback) is what it was at the end of intake's last transaction;
- no other connection, in this process or another: ``PRAGMA data_version`` is unchanged
  (it moves whenever another connection commits);
- intake's last transaction committed (the rows are kept only after the commit; a failure
  anywhere leaves the stamp cleared, so the next batch reads everything again).

Anything else — the notifier posting, an ack, a silence, a group closed, another process —
moves one of the two counters, and the next batch reads every group from the store as
before. PostgreSQL keeps reading (other replicas write without a counter to watch).
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import Connection

from opsroom.store.types import as_utc

if TYPE_CHECKING:
    from opsroom.store import Database

# The group columns intake's statements change (``group_state.mark_changed``) and that it
# reads again (``GROUP_COLUMNS``); ``updated_at``, ``version`` and ``dirty`` are not read.
_CHANGED = frozenset({"status", "flapping", "next_due_at", "delivery"})
MAX_KEPT = 50_000  # open groups kept; past it everything is read again


class OpenGroups:
    """One per ``AlertContext``; used by intake's transactions, one at a time."""

    def __init__(self) -> None:
        self._rows: dict[str, Any] = {}
        self._stamp: tuple[Any, int, int] | None = None  # (driver connection, total_changes, data_version)

    @contextmanager
    def transaction(self, db: Database) -> Iterator[tuple[Connection, dict[str, Any] | None]]:
        """An intake transaction and the rows kept for it (None on a backend without the
        counters); they are kept for the next one only once this one has committed (an
        exception rolls back and leaves the stamp cleared)."""
        with db.begin() as conn:
            taken = self.take(conn)
            yield conn, None if taken is None else taken[0]
            stamp = None if taken is None else self.stamp(conn, taken[1])
        if stamp is not None:
            self.keep(stamp)

    def take(self, conn: Connection) -> tuple[dict[str, Any], int] | None:
        """At the start of an intake transaction: the kept rows by open key (empty when
        anything may have written since), and the data version to hand back to ``stamp``;
        None on a backend without the counters."""
        if conn.dialect.name != "sqlite":
            return None
        driver = conn.connection.driver_connection
        version = driver.execute("PRAGMA data_version").fetchone()[0]  # type: ignore[union-attr]
        stamp, self._stamp = self._stamp, None  # cleared until this transaction has committed
        if (
            stamp is None
            or stamp[0] is not driver
            or stamp[1] != driver.total_changes
            or stamp[2] != version
            or len(self._rows) > MAX_KEPT
        ):
            self._rows = {}
        return self._rows, version

    def stamp(self, conn: Connection, version: int) -> tuple[Any, int, int]:
        """At the end of the transaction's writes, before its commit."""
        driver = conn.connection.driver_connection
        return (driver, driver.total_changes, version)  # type: ignore[union-attr]

    def keep(self, stamp: tuple[Any, int, int]) -> None:
        """Once the transaction has committed: its rows may be used by the next one."""
        self._stamp = stamp


_Row = namedtuple("_Row", "open_key id status flapping delivery next_due_at created_at last_notified_at")  # noqa: PYI024


def remember(
    kept: dict[str, Any],
    groups: Mapping[str, Any],
    skip: Sequence[str] | set[str],
    marked: Mapping[tuple[tuple[str, Any], ...], Sequence[int]],
) -> None:
    """Keep the batch's group rows (``groups``, as read, inserted or taken from ``kept``),
    with what ``mark_changed`` then set (``marked``: its SET columns and values → group
    ids) applied, as the store now holds them. ``skip`` are groups read in another shape
    (reopened): they are dropped, and read again next time."""
    key_of: dict[int, str] = {}
    for key, row in groups.items():
        if key in skip:
            kept.pop(key, None)
            continue
        if not isinstance(row, tuple):  # an INSERT's RETURNING row (SQLAlchemy's): the same columns
            row = _Row._make(row)  # (``hasattr`` on such a row raises and formats a KeyError inside)
        kept[key] = row
        key_of[row.id] = key
    for sets, ids in marked.items():
        changed = {name: _as_read(value) for name, value in sets if name in _CHANGED}
        if not changed:
            continue
        for gid in ids:
            found = key_of.get(gid)
            if found is not None:
                kept[found] = kept[found]._replace(**changed)


def _as_read(value: Any) -> Any:
    """A value as reading it back gives it: timestamps come back as aware UTC datetimes
    (the same instant; stored to the microsecond, as a datetime holds it)."""
    return as_utc(value) if isinstance(value, dt.datetime) else value
