"""Silences: in Alertmanager when the group came from one (so it stops sending), else an
opsroom-side mute; lifting one by its id or by ``#<group>``. Both are audited with the
matchers and the Alertmanager silence id, so an operator can find them there too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update

from opsroom.alerts.acks import find_group
from opsroom.alerts.cards import refresh_card
from opsroom.alerts.context import AlertContext, AlertError
from opsroom.alerts.group_state import keep_due, mark_changed
from opsroom.alerts.render import fmt_time
from opsroom.alerts.tables import alert_groups, alert_silences
from opsroom.alerts.views import group_view
from opsroom.clock import short as fmt_duration
from opsroom.core import Message, Place, Principal
from opsroom.integrations.monitoring.alertmanager import AlertmanagerClient, AlertmanagerError


def _alertmanager_url(ctx: AlertContext, group: Any) -> str:
    source = ctx.config.sources.get(group.source)
    if source is not None and source.alertmanager_url:
        return source.alertmanager_url
    if group.source_type != "alertmanager":
        return ""
    if group.external_url.startswith(("http://", "https://")):
        return str(group.external_url)
    return ctx.config.alertmanager_url


def _silence_matchers(ctx: AlertContext, group: Any) -> dict[str, str]:
    matchers = {k: v for k, v in (group.labels or {}).items() if v}
    if matchers:
        return matchers
    with ctx.db.read() as conn:
        view = group_view(conn, group)
    return {k: v for k, v in view.common_labels.items() if v} or {"alertname": view.alerts[0].alertname}


async def silence(
    ctx: AlertContext,
    target: str | int,
    seconds: float,
    principal: Principal,
    place: Place | None = None,
    comment: str = "",
) -> Message:
    if seconds < 60 or seconds > ctx.config.max_silence:
        raise AlertError(f"a silence lasts from 1m to {fmt_duration(ctx.config.max_silence)}")
    async with ctx.lock:
        group = find_group(ctx, target)
        if group.closed_at is not None:
            return Message.plain(f"Group #{group.id} is already resolved; nothing to silence.")
        now = ctx.clock()
        ends = now + dt.timedelta(seconds=seconds)
        matchers = _silence_matchers(ctx, group)
        am_url = _alertmanager_url(ctx, group)
        am_id = ""
        note = comment or f"silenced from opsroom by {principal.name} (group #{group.id})"
        if am_url:
            try:
                client = AlertmanagerClient(am_url, http=ctx.http)
                am_id = await client.create_silence(
                    matchers, starts_at=now, ends_at=ends, created_by=principal.name, comment=note
                )
            except AlertmanagerError as exc:
                return Message.plain(f"Could not silence group #{group.id}: {exc}", tone="failure")
        with ctx.db.begin() as conn:
            silence_id = conn.execute(
                insert(alert_silences)
                .returning(alert_silences.c.id)
                .values(
                    matchers=matchers,
                    starts_at=now,
                    ends_at=ends,
                    created_by=principal.name,
                    comment=note,
                    group_id=group.id,
                    alertmanager_url=am_url,
                    alertmanager_id=am_id,
                )
            ).scalar_one()
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == group.id)
                .values(
                    silenced_until=ends,
                    silence_ref=str(silence_id),
                    escalation_next_at=None,
                    next_due_at=keep_due(group),
                )
            )
            where = "in Alertmanager " + am_id if am_id else "in opsroom"
            ctx.audit(
                conn,
                actor=principal.name,
                action="alert.silence",
                channel=group.channel_name,
                platform=place.platform if place else group.platform,
                summary=f"silenced group #{group.id} {group.title} for {fmt_duration(seconds)} {where}",
                detail={
                    "group": group.id,
                    "silence": silence_id,
                    "matchers": matchers,
                    "ends_at": ends.isoformat(),
                    "alertmanager_id": am_id,
                    "alertmanager_url": am_url,
                },
            )
        ctx.forget_mutes()
        matcher_text = ", ".join(f"{k}={v}" for k, v in matchers.items())
        where_text = f"Alertmanager silence `{am_id}`" if am_id else "muted by opsroom"
        await refresh_card(
            ctx,
            group.id,
            f"🔕 Silenced by {principal.label} for {fmt_duration(seconds)} "
            f"(until {fmt_time(ends)}; {where_text}; {matcher_text}).",
        )
    return Message.plain(
        f"Silenced group #{group.id} for {fmt_duration(seconds)} (silence #{silence_id}, {where_text}: "
        f"{matcher_text}). Undo with /unsilence {silence_id}.",
        tone="success",
    )


async def unsilence(ctx: AlertContext, target: str | int, principal: Principal, place: Place | None = None) -> Message:
    """``target`` is a silence id (as /silence answered) or ``#<group id>``."""
    text = str(target).strip()
    now = ctx.clock()
    async with ctx.lock:
        with ctx.db.read() as conn:
            if text.startswith("#") and text[1:].isdigit():
                rows = conn.execute(
                    select(alert_silences).where(
                        alert_silences.c.group_id == int(text[1:]),
                        alert_silences.c.cancelled_at.is_(None),
                        alert_silences.c.ends_at > now,
                    )
                ).all()
            elif text.isdigit():
                rows = conn.execute(
                    select(alert_silences).where(
                        alert_silences.c.id == int(text),
                        alert_silences.c.cancelled_at.is_(None),
                        alert_silences.c.ends_at > now,
                    )
                ).all()
            else:
                raise AlertError("give a silence id (from /silence) or #<group id>")
        if not rows:
            raise AlertError(f"no active silence {text}")
        for row in rows:
            if row.alertmanager_id:
                try:
                    await AlertmanagerClient(row.alertmanager_url, http=ctx.http).expire_silence(row.alertmanager_id)
                except AlertmanagerError as exc:
                    return Message.plain(f"Could not lift silence {row.id}: {exc}", tone="failure")
        with ctx.db.begin() as conn:
            for row in rows:
                conn.execute(update(alert_silences).where(alert_silences.c.id == row.id).values(cancelled_at=now))
                if row.group_id is not None:
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == row.group_id, alert_groups.c.silence_ref == str(row.id))
                        .values(silenced_until=None, silence_ref=None)
                    )
                    mark_changed(ctx, conn, [row.group_id], now)
                ctx.audit(
                    conn,
                    actor=principal.name,
                    action="alert.unsilence",
                    platform=place.platform if place else "",
                    summary=f"lifted silence {row.id}"
                    + (f" (Alertmanager {row.alertmanager_id})" if row.alertmanager_id else ""),
                    detail={"silence": row.id, "group": row.group_id, "matchers": row.matchers},
                )
        ctx.forget_mutes()
        for row in rows:
            if row.group_id is not None:
                await refresh_card(ctx, row.group_id, f"🔔 Silence lifted by {principal.label}.")
    ctx.wake.set()
    return Message.plain(f"Lifted {len(rows)} silence(s).", tone="success")
