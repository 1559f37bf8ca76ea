"""Digests: the storm digest a channel gets when its post budget is spent, and the
scheduled digest of low-severity groups.

Over budget, every due new group of a channel joins one digest message (edited at most
every ``DIGEST_REFRESH`` seconds) instead of posting its own card; that keeps a channel
readable in a storm of thousands of groups.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from opsroom.alerts.context import AlertContext, chunks
from opsroom.alerts.model import severity_rank
from opsroom.alerts.render import DigestLine, render_digest
from opsroom.alerts.tables import alert_digests, alert_groups, alerts
from opsroom.clock import short as fmt_duration
from opsroom.core import MessageRef, Place

log = logging.getLogger(__name__)
DIGEST_REFRESH = 2.0  # seconds between edits of one digest message


def collapse_over_budget(ctx: AlertContext, now: dt.datetime) -> None:
    """In a storm, collapse every due new group of a channel whose budget is spent into
    its digest in one statement (and one audit entry), instead of one by one."""
    ts = now.timestamp()
    due_new = and_(
        alert_groups.c.delivery == "pending",
        alert_groups.c.next_due_at <= now,
        alert_groups.c.closed_at.is_(None),
        alert_groups.c.status == "firing",
    )
    with ctx.db.read() as conn:
        channels = [r[0] for r in conn.execute(select(alert_groups.c.channel_name).where(due_new).distinct())]
    for channel in channels:
        if ctx.budget.remaining(channel, ts) > 0:
            continue
        unmuted = (
            select(alerts.c.id)
            .where(
                alerts.c.group_id == alert_groups.c.id,
                alerts.c.status == "firing",
                alerts.c.muted.is_(False),
            )
            .exists()
        )
        with ctx.db.begin() as conn:
            rows = conn.execute(
                select(
                    alert_groups.c.id,
                    alert_groups.c.route,
                    alert_groups.c.severity,
                    alert_groups.c.platform,
                ).where(due_new, alert_groups.c.channel_name == channel, unmuted)
            ).all()
            ids = [r.id for r in rows if not ctx.is_scheduled(r)]
            if not ids:
                continue
            collapse_into_digest(
                ctx,
                conn,
                ids,
                channel,
                rows[0].platform,
                now,
                what=f"{len(ids)} new group(s)",
                detail={"groups": ids[:1000], "count": len(ids)},
            )


def collapse_into_digest(
    ctx: AlertContext,
    conn: Connection,
    ids: list[int],
    channel: str,
    platform: str,
    now: dt.datetime,
    *,
    what: str,
    detail: dict[str, Any],
) -> None:
    """Over budget: these groups join the channel's storm digest instead of posting."""
    digest_id = _budget_digest(ctx, conn, channel, now)
    for part in chunks(ids):
        conn.execute(
            update(alert_groups)
            .where(alert_groups.c.id.in_(part))
            .values(
                delivery="digest",
                digest_id=digest_id,
                dirty=False,
                next_due_at=None,
                first_notified_at=now,
                last_notified_at=now,
            )
        )
    ctx.audit(
        conn,
        actor="opsroom",
        action="alert.route",
        channel=channel,
        platform=platform,
        summary=f"{what} collapsed into the storm digest of {channel} "
        f"(budget {ctx.config.budget.max_messages} per "
        f"{fmt_duration(ctx.config.budget.window)} spent)",
        detail={**detail, "delivery": "digest", "digest": digest_id},
    )


def _budget_digest(ctx: AlertContext, conn: Connection, channel_name: str, now: dt.datetime) -> int:
    since = now - dt.timedelta(seconds=ctx.config.budget.window)
    row = conn.execute(
        select(alert_digests.c.id)
        .where(
            alert_digests.c.kind == "budget",
            alert_digests.c.channel_name == channel_name,
            alert_digests.c.created_at > since,
        )
        .order_by(alert_digests.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        conn.execute(update(alert_digests).where(alert_digests.c.id == row.id).values(dirty=True))
        return int(row.id)
    place = ctx.place_for(channel_name)
    return int(
        conn.execute(
            insert(alert_digests)
            .returning(alert_digests.c.id)
            .values(
                kind="budget",
                platform=place.platform,
                channel=place.channel,
                channel_name=channel_name,
                created_at=now,
                updated_at=now - dt.timedelta(seconds=DIGEST_REFRESH),
                dirty=True,
            )
        ).scalar_one()
    )


async def refresh_digests(ctx: AlertContext, now: dt.datetime) -> None:
    throttle = now - dt.timedelta(seconds=DIGEST_REFRESH)
    with ctx.db.read() as conn:
        due = conn.execute(
            select(alert_digests).where(
                alert_digests.c.dirty.is_(True),
                alert_digests.c.kind == "budget",
                or_(alert_digests.c.message_id.is_(None), alert_digests.c.updated_at <= throttle),
            )
        ).all()
    for digest in due:
        # A storm digest counts thousands of groups: read it off the event loop.
        lines, total, firing = await ctx.offload(_read_digest_lines, ctx, alert_groups.c.digest_id == digest.id)
        message = render_digest(
            digest.channel_name,
            lines,
            total=total,
            firing=firing,
            scheduled=False,
            window=ctx.config.budget.window,
        )
        try:
            if digest.message_id is None:
                ref = await ctx.hub.send(ctx.place_for(digest.channel_name), message)
                values: dict[str, Any] = {"message_id": ref.message_id}
            else:
                place = Place(digest.platform, digest.channel, channel_name=digest.channel_name)
                await ctx.hub.update(MessageRef(place, digest.message_id), message)
                values = {}
        except Exception:
            log.exception("could not post the alert digest for %s", digest.channel_name)
            continue
        with ctx.db.begin() as conn:
            conn.execute(
                update(alert_digests)
                .where(alert_digests.c.id == digest.id)
                .values(dirty=False, updated_at=now, **values)
            )


def _read_digest_lines(ctx: AlertContext, where: Any) -> tuple[list[DigestLine], int, int]:
    with ctx.db.read() as conn:
        return _digest_lines(conn, where)


def _digest_lines(conn: Connection, where: Any) -> tuple[list[DigestLine], int, int]:
    firing_col = func.sum(case((alerts.c.status == "firing", 1), else_=0))
    total = conn.execute(select(func.count()).select_from(alert_groups).where(where)).scalar_one()
    firing = conn.execute(
        select(func.count()).select_from(alert_groups).where(where, alert_groups.c.status == "firing")
    ).scalar_one()
    rows = conn.execute(
        select(
            alert_groups.c.id,
            alert_groups.c.title,
            alert_groups.c.status,
            alert_groups.c.severity,
            firing_col.label("firing"),
        )
        .select_from(alert_groups.join(alerts, alerts.c.group_id == alert_groups.c.id))
        .where(where)
        .group_by(alert_groups.c.id, alert_groups.c.title, alert_groups.c.status, alert_groups.c.severity)
        .order_by(alert_groups.c.status, alert_groups.c.id.desc())
        .limit(15)
    ).all()
    lines = sorted(
        (DigestLine(r.id, r.title, r.status, r.severity, int(r.firing or 0)) for r in rows),
        key=lambda d: (d.status != "firing", severity_rank(d.severity), -d.group_id),
    )
    return lines, int(total), int(firing)


async def send_scheduled_digests(ctx: AlertContext, now: dt.datetime) -> int:
    """Post one digest per channel of the low-severity groups held since the last one."""
    pending = and_(
        alert_groups.c.delivery == "scheduled",
        or_(alert_groups.c.digested_at.is_(None), alert_groups.c.updated_at > alert_groups.c.digested_at),
    )
    with ctx.db.read() as conn:
        channels = [r[0] for r in conn.execute(select(alert_groups.c.channel_name).where(pending).distinct())]
    posted = 0
    for channel in channels:
        where = and_(pending, alert_groups.c.channel_name == channel)
        with ctx.db.read() as conn:
            lines, total, firing = _digest_lines(conn, where)
            ids = [r.id for r in conn.execute(select(alert_groups.c.id).where(where))]
        if not ids:
            continue
        ref = await ctx.hub.send(
            ctx.place_for(channel),
            render_digest(channel, lines, total=total, firing=firing, scheduled=True),
        )
        posted += 1
        with ctx.db.begin() as conn:
            for part in chunks(ids):
                conn.execute(update(alert_groups).where(alert_groups.c.id.in_(part)).values(digested_at=now))
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id.in_(part), alert_groups.c.status == "resolved")
                    .values(open_key=None, closed_at=now, next_due_at=None)
                )
            ctx.audit(
                conn,
                actor="opsroom",
                action="alert.digest",
                channel=channel,
                platform=ref.place.platform,
                summary=f"scheduled digest of {total} group(s) posted to {channel}",
                detail={"groups": ids[:100], "message_id": ref.message_id},
            )
    return posted
