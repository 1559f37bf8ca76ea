"""On-call overrides ("bob covers primary for 4h"): stored, audited, and loaded into the
schedules at start-up and after every change, so a restart keeps them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from opsroom.alerts.context import AlertContext, AlertError
from opsroom.alerts.render import fmt_time
from opsroom.alerts.tables import oncall_overrides
from opsroom.clock import short as fmt_duration
from opsroom.core import Message, Place, Principal
from opsroom.integrations.oncall import Override
from opsroom.store.types import as_utc


def load_overrides(ctx: AlertContext) -> None:
    if ctx.oncall is None:
        return
    now = ctx.clock()
    by_schedule: dict[str, list[Override]] = {name: [] for name in ctx.oncall.names}
    with ctx.db.read() as conn:
        for row in conn.execute(
            select(oncall_overrides).where(oncall_overrides.c.ends_at > now).order_by(oncall_overrides.c.id)
        ):
            by_schedule.setdefault(row.schedule, []).append(
                Override(row.user, as_utc(row.starts_at) or now, as_utc(row.ends_at) or now)
            )
    for name, overrides in by_schedule.items():
        if name in ctx.oncall.names:
            ctx.oncall.set_overrides(name, overrides)


def add_override(
    ctx: AlertContext, schedule: str, user: str, seconds: float, principal: Principal, place: Place | None = None
) -> Message:
    if ctx.oncall is None or schedule not in ctx.oncall.names:
        raise AlertError(f"no on-call schedule {schedule!r}")
    if seconds < 60 or seconds > ctx.oncall.config.max_override:
        raise AlertError(f"an override lasts from 1m to {fmt_duration(ctx.oncall.config.max_override)}")
    now = ctx.clock()
    ends = now + dt.timedelta(seconds=seconds)
    with ctx.db.begin() as conn:
        conn.execute(
            insert(oncall_overrides).values(
                schedule=schedule,
                user=user,
                starts_at=now,
                ends_at=ends,
                created_by=principal.name,
                created_at=now,
            )
        )
        ctx.audit(
            conn,
            actor=principal.name,
            action="oncall.override",
            platform=place.platform if place else "",
            channel=place.name if place else "",
            summary=f"{user} is on call for {schedule} until {fmt_time(ends)}",
            detail={"schedule": schedule, "user": user, "ends_at": ends.isoformat()},
        )
    load_overrides(ctx)
    return Message.plain(f"{user} is on call for {schedule} until {fmt_time(ends)}.", tone="success")
