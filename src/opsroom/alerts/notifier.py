"""The notifier's work: post a group's card once it is due, edit it as it changes, say
what changed in its thread, remind while it fires, and settle flapping alerts and ended
silences. Only this posts group cards; intake only marks groups due.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update

from opsroom.alerts import flapping
from opsroom.alerts.cards import render_card
from opsroom.alerts.context import AlertContext
from opsroom.alerts.digests import collapse_into_digest, collapse_over_budget
from opsroom.alerts.group_state import close, mark_changed, mark_shown, reschedule
from opsroom.alerts.render import render_changes
from opsroom.alerts.tables import alert_digests, alert_groups, alerts
from opsroom.alerts.views import change_lines, group_view, open_group
from opsroom.clock import short as fmt_duration
from opsroom.core import Message

log = logging.getLogger(__name__)


def settle(ctx: AlertContext, now: dt.datetime) -> None:
    """Flapping alerts that calmed down, and silences that ran out."""
    ts, fcfg = now.timestamp(), ctx.config.flapping
    with ctx.db.begin() as conn:
        settled = [
            r
            for r in conn.execute(
                select(alerts.c.id, alerts.c.group_id, alerts.c.changes).where(alerts.c.flapping.is_(True))
            )
            if flapping.has_settled(r.changes or [], ts, fcfg)
        ]
        if settled:
            conn.execute(update(alerts).where(alerts.c.id.in_([r.id for r in settled])).values(flapping=False))
            mark_changed(ctx, conn, sorted({r.group_id for r in settled}), now)
        expired = [
            r.id
            for r in conn.execute(
                select(alert_groups.c.id).where(
                    alert_groups.c.silenced_until <= now, alert_groups.c.closed_at.is_(None)
                )
            )
        ]
        if expired:
            conn.execute(
                update(alert_groups).where(alert_groups.c.id.in_(expired)).values(silenced_until=None, silence_ref=None)
            )
            mark_changed(ctx, conn, expired, now)


async def flush_due(ctx: AlertContext, now: dt.datetime, limit: int = 200) -> bool:
    await ctx.offload(collapse_over_budget, ctx, now)
    with ctx.db.read() as conn:
        ids = [
            r.id
            for r in conn.execute(
                select(alert_groups.c.id)
                .where(alert_groups.c.next_due_at <= now, alert_groups.c.closed_at.is_(None))
                .order_by(alert_groups.c.next_due_at)
                .limit(limit)
            )
        ]
    for gid in ids:
        try:
            await _flush(ctx, gid, now)
        except Exception:
            log.exception("could not notify alert group %s", gid)
            with ctx.db.begin() as conn:
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id == gid)
                    .values(next_due_at=now + dt.timedelta(seconds=30))
                )
    return len(ids) == limit


async def _flush(ctx: AlertContext, gid: int, now: dt.datetime) -> None:
    with ctx.db.read() as conn:
        group = open_group(conn, gid)
        if group is None or group.closed_at is not None:
            return
        view = group_view(conn, group)
    version = group.version
    if group.delivery in ("pending", "muted"):
        await _first_notification(ctx, group, view, now)
    elif group.delivery == "live":
        await _update_live(ctx, group, view, now)
    elif group.delivery in ("digest", "scheduled"):
        await ctx.offload(_park_in_digest, ctx, group, version, now)


def _park_in_digest(ctx: AlertContext, group: Any, version: int, now: dt.datetime) -> None:
    """A group shown in a digest changed: mark the digest for a refresh (storm hot path)."""
    with ctx.db.begin() as conn:
        if group.digest_id is not None:
            conn.execute(update(alert_digests).where(alert_digests.c.id == group.digest_id).values(dirty=True))
        if group.status == "resolved" and group.delivery == "digest":
            close(conn, group.id, now)
        else:
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == group.id, alert_groups.c.version == version)
                .values(dirty=False, next_due_at=None)
            )


def _held_back(ctx: AlertContext, group: Any, view: Any, now: dt.datetime) -> bool:
    """A new group that is not posted on its own: resolved or muted before its first post,
    held for the scheduled digest, or collapsed into the storm digest (budget spent)."""
    gid = group.id
    unmuted_firing = view.firing - view.muted
    if unmuted_firing <= 0:
        with ctx.db.begin() as conn:
            if view.firing == 0:
                close(conn, gid, now)  # resolved before anyone needed to hear of it
            else:
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id == gid)
                    .values(delivery="muted", dirty=False, next_due_at=None)
                )
        return True
    if ctx.is_scheduled(group):
        with ctx.db.begin() as conn:
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == gid)
                .values(delivery="scheduled", dirty=False, next_due_at=None)
            )
            ctx.audit(
                conn,
                actor="opsroom",
                action="alert.route",
                channel=group.channel_name,
                platform=group.platform,
                summary=f"group #{gid} {group.title} held for the scheduled digest in "
                f"{group.channel_name} (severity {group.severity})",
                detail={"group": gid, "route": group.route, "delivery": "scheduled"},
            )
        return True
    if not ctx.budget.take(group.channel_name, now.timestamp()):
        with ctx.db.begin() as conn:
            collapse_into_digest(
                ctx,
                conn,
                [gid],
                group.channel_name,
                group.platform,
                now,
                what=f"group #{gid} {group.title}",
                detail={"group": gid, "route": group.route},
            )
        return True
    return False


async def _first_notification(ctx: AlertContext, group: Any, view: Any, now: dt.datetime) -> None:
    gid = group.id
    if await ctx.offload(_held_back, ctx, group, view, now):
        return
    route = ctx.router.by_name(group.route)
    mentions = ctx.mentions_for(route.mentions_for(group.severity), now)
    with ctx.db.read() as conn:
        message, _ = render_card(ctx, conn, group, now, mentions)
    place = ctx.place_for(group.channel_name)
    ref = await ctx.hub.send(place, message)
    policy = ctx.oncall.policies.get(group.escalation) if (ctx.oncall and group.escalation) else None
    first_step = policy.step(0) if policy else None
    with ctx.db.begin() as conn:
        lines, shown = change_lines(conn, gid, limit=0)
        mark_shown(conn, shown)
        reschedule(
            ctx,
            conn,
            gid,
            now,
            version=group.version,
            delivery="live",
            message_id=ref.message_id,
            thread=ref.place.thread,
            platform=ref.place.platform,
            channel=ref.place.channel,
            first_notified_at=now,
            last_notified_at=now,
            escalation_pos=0,
            escalation_next_at=(now + dt.timedelta(seconds=first_step.after)) if first_step else None,
        )
        ctx.audit(
            conn,
            actor="opsroom",
            action="alert.notify",
            channel=group.channel_name,
            platform=ref.place.platform,
            summary=f"group #{gid} {group.title} posted to {group.channel_name}"
            + (f", mentioning {', '.join(p.name for p in mentions)}" if mentions else ""),
            detail={
                "group": gid,
                "route": group.route,
                "message_id": ref.message_id,
                "mentions": [p.name for p in mentions],
                "severity": group.severity,
            },
        )


async def _update_live(ctx: AlertContext, group: Any, view: Any, now: dt.datetime) -> None:
    gid, ref = group.id, ctx.ref(group)
    if group.dirty:
        with ctx.db.read() as conn:
            message, view = render_card(ctx, conn, group, now)
            lines, shown = change_lines(conn, gid)
        await ctx.hub.update(ref, message)
        if lines:
            await ctx.hub.send(ref.thread_place, render_changes(view, lines))
        with ctx.db.begin() as conn:
            mark_shown(conn, shown)
            current = open_group(conn, gid)
            if current.status == "resolved" and current.version == group.version:
                close(conn, gid, now, last_notified_at=now)
            else:
                reschedule(ctx, conn, gid, now, version=group.version, last_notified_at=now)
        return
    # Nothing changed: a repeat reminder for a firing group nobody has acked or silenced.
    if group.status == "firing":
        age = fmt_duration((now - view.created_at).total_seconds())
        await ctx.hub.send(
            ref.thread_place,
            Message.plain(
                f"🔁 still firing after {age}: {view.firing} alert(s) — ack with /ack {gid}",
                tone="warning",
            ),
        )
    with ctx.db.begin() as conn:
        reschedule(ctx, conn, gid, now, version=group.version, last_notified_at=now)
