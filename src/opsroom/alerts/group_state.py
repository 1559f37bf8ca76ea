"""A group's lifecycle in the store: recount after a change, reschedule after a post, close.

These are the only writers of a group's ``status``, ``dirty``, ``version`` and
``next_due_at``; intake, the notifier, silences and the settling of flapping alerts all go
through them, so "when is this group due next" is decided in one place (``grouping.next_due``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy import Connection, bindparam, case, func, select, update

from opsroom.alerts.context import AlertContext, chunks
from opsroom.alerts.grouping import next_due
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.alerts.views import open_group
from opsroom.store.types import as_utc


def mark_changed(ctx: AlertContext, conn: Connection, gids: Sequence[int], now: dt.datetime) -> None:
    """Recompute status/flapping of changed groups, mark them dirty, schedule a flush."""
    timers = ctx.config.grouping
    rows = []
    for part in chunks(gids):
        stats = {
            r.group_id: r
            for r in conn.execute(
                select(
                    alerts.c.group_id,
                    func.sum(case((alerts.c.status == "firing", 1), else_=0)).label("firing"),
                    func.max(case((alerts.c.flapping.is_(True), 1), else_=0)).label("flapping"),
                )
                .where(alerts.c.group_id.in_(part))
                .group_by(alerts.c.group_id)
            )
        }
        for g in conn.execute(
            select(
                alert_groups.c.id,
                alert_groups.c.delivery,
                alert_groups.c.created_at,
                alert_groups.c.last_notified_at,
                alert_groups.c.version,
            ).where(alert_groups.c.id.in_(part))
        ):
            st = stats.get(g.id)
            firing = bool(st and (st.firing or st.flapping))  # a flapping alert keeps it open
            if g.delivery in ("digest", "muted"):
                due: dt.datetime | None = now
            elif g.delivery == "scheduled":
                due = None
            else:
                due = next_due(
                    created_at=as_utc(g.created_at) or now,
                    last_notified_at=as_utc(g.last_notified_at),
                    dirty=True,
                    firing=firing,
                    quiet=False,
                    timers=timers,
                )
            rows.append(
                {
                    "_id": g.id,
                    "_status": "firing" if firing else "resolved",
                    "_flapping": bool(st and st.flapping),
                    "_version": g.version + 1,
                    "_due": due,
                    "_now": now,
                    "_delivery": "pending" if g.delivery == "muted" else g.delivery,
                }
            )
    if rows:
        conn.execute(
            update(alert_groups)
            .where(alert_groups.c.id == bindparam("_id"))
            .values(
                status=bindparam("_status"),
                flapping=bindparam("_flapping"),
                version=bindparam("_version"),
                next_due_at=bindparam("_due"),
                updated_at=bindparam("_now"),
                dirty=True,
                delivery=bindparam("_delivery"),
            ),
            rows,
        )


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
