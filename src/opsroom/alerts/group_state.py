"""A group's lifecycle in the store: recount after a change, reschedule after a post, close.

These are the only writers of a group's ``status``, ``dirty``, ``version`` and
``next_due_at``; intake, the notifier, silences and the settling of flapping alerts all go
through them, so "when is this group due next" is decided in one place (``grouping.next_due``).
"""

from __future__ import annotations

import datetime as dt
from typing import AbstractSet as Set
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, bindparam, literal_column, select, true, update

from opsroom.alerts.batch import many
from opsroom.alerts.context import AlertContext, chunks
from opsroom.alerts.grouping import next_due
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.alerts.views import open_group
from opsroom.store.db import DriverStatement, driver_execute
from opsroom.store.types import as_utc

# What mark_changed reads of a group.
GROUP_COLUMNS = (
    alert_groups.c.id,
    alert_groups.c.status,
    alert_groups.c.flapping,
    alert_groups.c.delivery,
    alert_groups.c.next_due_at,
    alert_groups.c.created_at,
    alert_groups.c.last_notified_at,
)
# Only the columns that change are SET: an UPDATE that names an indexed column rewrites its
# index entry even when the value is the same, and intake touches every group of a batch.
_MARK = DriverStatement(
    update(alert_groups)
    .where(alert_groups.c.id == bindparam("_id"))
    .values(version=alert_groups.c.version + literal_column("1"), dirty=true())
)


_UNKNOWN: Any = object()


def _flapping_groups(conn: Connection, gids: Sequence[int]) -> set[int]:
    """Which of ``gids`` have a flapping alert (through ``ix_alerts_flapping``: few rows).
    On SQLite the SQL goes to the driver: SQLAlchemy's rendering of an expanding ``IN`` of a
    hundred ids cost several times the query."""
    if conn.dialect.name != "sqlite":
        query = select(alerts.c.group_id).where(alerts.c.flapping.is_(True), alerts.c.group_id.in_(gids))
        return set(conn.execute(query.distinct()).scalars())
    sql = (
        "SELECT DISTINCT group_id FROM alerts WHERE flapping IS 1 AND group_id IN ("  # noqa: S608 (no values in it)
        + ", ".join(["?"] * len(gids))
        + ")"
    )
    return {row[0] for row in driver_execute(conn, sql, list(gids))}


def mark_changed(
    ctx: AlertContext,
    conn: Connection,
    gids: Sequence[int],
    now: dt.datetime,
    *,
    known_firing: Set[int] = frozenset(),
    known: Mapping[int, Any] | None = None,
) -> dict[tuple[tuple[str, Any], ...], list[int]]:
    """Recompute status/flapping of changed groups, mark them dirty, schedule a flush.
    Returns what was set (columns and values → the groups' ids), for intake's kept rows.

    A group fires while any of its alerts fires or flaps. ``known_firing`` are groups the
    caller just stored a firing alert in (intake knows from the batch): they need no query, so
    intake's cost does not grow with the size of the groups it touches. For the others one
    indexed query per chunk finds whether anything still fires; flapping alerts are few and
    found through their own index. ``known`` are the groups' rows as the caller read them in
    this transaction (``GROUP_COLUMNS``); the others are read here by primary key."""
    timers = ctx.config.grouping
    # Groups whose UPDATE sets the same columns to the same values (in a batch nearly all:
    # only ``updated_at`` and the counters change) share one statement.
    same: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    dues: dict[tuple[Any, Any, bool], Any] = {}
    decided: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}
    only_touched = (("updated_at", now),)  # every UPDATE sets it; in a batch most set nothing else
    for part in chunks(gids):
        flapping_ids = _flapping_groups(conn, part)
        unknown = [g for g in part if g not in known_firing and g not in flapping_ids]
        firing_ids = set(known_firing) | flapping_ids
        if unknown:
            firing_ids |= set(
                conn.execute(
                    select(alerts.c.group_id)
                    .where(alerts.c.group_id.in_(unknown), alerts.c.status == "firing")
                    .distinct()
                ).scalars()
            )
        found = [known[g] for g in part if g in known] if known is not None else []
        missing = [g for g in part if known is None or g not in known]
        if missing:
            found += conn.execute(select(*GROUP_COLUMNS).where(alert_groups.c.id.in_(missing))).all()
        for g in found:
            firing = g.id in firing_ids  # a flapping alert keeps it open
            flaps = g.id in flapping_ids
            # Groups read alike (created together, never posted, same delivery) get the same
            # UPDATE: what it sets is worked out once per distinct reading, not per group.
            reading = (g.status, g.flapping, g.delivery, g.next_due_at, g.created_at, g.last_notified_at, firing, flaps)
            alike = decided.get(reading)
            if alike is not None:
                same[alike].append(g.id)
                continue
            if g.delivery in ("digest", "muted"):
                due: dt.datetime | None = now
            elif g.delivery == "scheduled":
                due = None
            else:
                # Groups created together share their times: each due time is worked out once.
                times = (g.created_at, g.last_notified_at, firing)
                due = dues.get(times, _UNKNOWN)
                if due is _UNKNOWN:
                    due = dues[times] = next_due(
                        created_at=as_utc(g.created_at) or now,
                        last_notified_at=as_utc(g.last_notified_at),
                        dirty=True,
                        firing=firing,
                        quiet=False,
                        timers=timers,
                    )
            status = "firing" if firing else "resolved"
            # The UPDATE's columns as the statement's key, each compared once; no dict per group.
            sets: tuple[tuple[str, Any], ...] = only_touched
            if g.status != status:
                sets += (("status", status),)
            if bool(g.flapping) != flaps:
                sets += (("flapping", flaps),)
            if as_utc(g.next_due_at) != due:
                sets += (("next_due_at", due),)
            if g.delivery == "muted":
                sets += (("delivery", "pending"),)
            decided[reading] = sets
            same.setdefault(sets, []).append(g.id)
    for values, ids in same.items():
        _mark(conn, dict(values), ids)
    return same


def _mark(conn: Connection, values: dict[str, Any], ids: Sequence[int]) -> None:
    """``_MARK`` with ``values`` for each group of ``ids``. On SQLite one ``… WHERE id IN (…)``
    per chunk: an ``executemany`` of a hundred rows bound and stepped each row (the same
    rows change, to the same values). PostgreSQL keeps the batched statement."""
    if conn.dialect.name != "sqlite":
        many(conn, _MARK, [{**values, "_id": gid} for gid in ids])
        return
    sql, names, procs = _MARK.compiled(conn, (*values, "_id"))
    head, _, tail = sql.rpartition(" = ?")
    if names[-1] != "_id" or "_id" in names[:-1] or tail or not head.endswith("alert_groups.id"):
        many(conn, _MARK, [{**values, "_id": gid} for gid in ids])  # not the shape expected
        return
    params = [values[n] if p is None else p(values[n]) for n, p in zip(names[:-1], procs[:-1], strict=True)]
    for part in chunks(ids):
        driver_execute(conn, f"{head} IN ({', '.join(['?'] * len(part))})", [*params, *part])


def close(conn: Connection, gid: int, now: dt.datetime, **values: Any) -> None:
    conn.execute(
        update(alert_groups)
        .where(alert_groups.c.id == gid)
        .values(open_key=None, closed_at=now, next_due_at=None, escalation_next_at=None, dirty=False, **values)
    )


def reschedule(ctx: AlertContext, conn: Connection, gid: int, now: dt.datetime, *, version: int, **values: Any) -> None:
    """After a notification: clear ``dirty`` unless intake changed the group meanwhile."""
    g = open_group(conn, gid)
    still_dirty = g.version != version
    quiet = bool(g.acked_by) or bool(g.silenced_until and as_utc(g.silenced_until) > now)
    last = values.get("last_notified_at", as_utc(g.last_notified_at))
    due = next_due(
        created_at=as_utc(g.created_at) or now,
        last_notified_at=last,
        dirty=still_dirty,
        firing=g.status == "firing",
        quiet=quiet,
        timers=ctx.config.grouping,
    )
    conn.execute(
        update(alert_groups).where(alert_groups.c.id == gid).values(dirty=still_dirty, next_due_at=due, **values)
    )


def keep_due(group: Any) -> dt.datetime | None:
    """After an ack or silence: drop a pending repeat reminder, keep a pending post/edit."""
    return group.next_due_at if (group.dirty or group.delivery != "live") else None


def mark_shown(conn: Connection, shown: Sequence[tuple[int, str, str]]) -> None:
    """Record what the message now shows, unless intake changed the alert meanwhile."""
    if shown:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == bindparam("_id"), alerts.c.status == bindparam("_status"))
            .values(notified_status=bindparam("_shown")),
            [{"_id": i, "_status": s, "_shown": n} for i, s, n in shown],
        )
