"""Reading alert state out of the store into the shapes ``render`` wants."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from sqlalchemy import Connection, and_, case, func, or_, select

from opsroom.alerts.render import AlertView, GroupView
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.store.types import as_utc

UTC = dt.UTC


def alert_view(row: Any) -> AlertView:
    annotations: Mapping[str, str] = row.annotations or {}
    labels: Mapping[str, str] = row.labels or {}
    return AlertView(
        fingerprint=row.fingerprint,
        alertname=row.alertname,
        status=row.status,
        severity=row.severity,
        summary=annotations.get("summary") or annotations.get("title") or row.alertname,
        description=annotations.get("description", ""),
        labels=labels,
        starts_at=as_utc(row.starts_at),
        flapping=bool(row.flapping),
        muted=bool(row.muted),
        generator_url=row.generator_url or "",
        runbook=annotations.get("runbook_url") or annotations.get("runbook", ""),
    )


def group_view(conn: Connection, group: Any, *, limit: int = 10) -> GroupView:
    counts = conn.execute(
        select(
            func.sum(case((alerts.c.status == "firing", 1), else_=0)),
            func.sum(case((alerts.c.status == "resolved", 1), else_=0)),
            func.sum(case(((alerts.c.status == "firing") & alerts.c.muted, 1), else_=0)),
        ).where(alerts.c.group_id == group.id)
    ).one()
    rows = conn.execute(
        select(alerts)
        .where(alerts.c.group_id == group.id)
        .order_by(case((alerts.c.status == "firing", 0), else_=1), alerts.c.id)
        .limit(limit)
    ).all()
    return GroupView(
        id=group.id,
        title=group.title,
        status=group.status,
        severity=group.severity,
        channel_name=group.channel_name,
        labels=group.labels or {},
        source=group.source,
        source_type=group.source_type,
        alerts=[alert_view(r) for r in rows],
        firing=int(counts[0] or 0),
        resolved=int(counts[1] or 0),
        created_at=as_utc(group.created_at) or dt.datetime.now(UTC),
        acked_by=group.acked_by,
        acked_at=as_utc(group.acked_at),
        silenced_until=as_utc(group.silenced_until),
        flapping=bool(group.flapping),
        muted=int(counts[2] or 0),
    )


def change_lines(conn: Connection, group_id: int, *, limit: int = 20) -> tuple[list[str], list[tuple[int, str, str]]]:
    """What changed since the chat message last showed this group: lines for the thread and
    (alert id, status seen, what the message now shows) to record. A flapping alert is
    announced once and then held back until it settles."""
    shown_col = alerts.c.notified_status
    rows = conn.execute(
        select(
            alerts.c.id,
            alerts.c.status,
            shown_col,
            alerts.c.alertname,
            alerts.c.labels,
            alerts.c.annotations,
            alerts.c.flapping,
        )
        .where(
            alerts.c.group_id == group_id,
            alerts.c.muted.is_(False),
            or_(
                and_(alerts.c.flapping.is_(False), or_(shown_col.is_(None), shown_col != alerts.c.status)),
                and_(alerts.c.flapping.is_(True), or_(shown_col.is_(None), shown_col != "flapping")),
            ),
        )
        .order_by(alerts.c.id)
    ).all()
    lines: list[str] = []
    shown: list[tuple[int, str, str]] = []
    for row in rows:
        shown.append((row.id, row.status, "flapping" if row.flapping else row.status))
        if len(lines) >= limit:
            continue
        summary = (row.annotations or {}).get("summary") or row.alertname
        ident = ",".join(
            f"{k}={v}" for k, v in sorted((row.labels or {}).items()) if k not in ("alertname", "severity")
        )[:100]
        what = f"{summary}" + (f" `{ident}`" if ident else "")
        if row.flapping:
            lines.append(f"〰 flapping: {what} — holding its updates until it settles")
        elif row.notified_status == "flapping":
            lines.append(f"{'✅' if row.status == 'resolved' else '🔥'} settled ({row.status}): {what}")
        elif row.status == "resolved":
            lines.append(f"✅ resolved: {what}")
        elif row.notified_status == "resolved":
            lines.append(f"🔥 firing again: {what}")
        else:
            lines.append(f"🔥 new: {what}")
    if len(rows) > limit:
        lines.append(f"…and {len(rows) - limit} more changes")
    return lines, shown


def open_group(conn: Connection, group_id: int) -> Any:
    return conn.execute(select(alert_groups).where(alert_groups.c.id == group_id)).first()
