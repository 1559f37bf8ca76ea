"""Escalation: page the next step of a group's on-call policy until someone acks.

A step is due at ``escalation_next_at``; an ack, a silence or a resolution ends the chain.
Each page goes to the group's thread (and by DM when the step says so) and is audited.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from opsroom.alerts.context import AlertContext
from opsroom.alerts.tables import alert_groups
from opsroom.clock import short as fmt_duration
from opsroom.core import Message, Place, Section
from opsroom.store.types import as_utc

log = logging.getLogger(__name__)


async def escalate_due(ctx: AlertContext, now: dt.datetime) -> None:
    with ctx.db.read() as conn:
        due = conn.execute(
            select(alert_groups).where(alert_groups.c.escalation_next_at <= now, alert_groups.c.closed_at.is_(None))
        ).all()
    for group in due:
        policy = ctx.oncall.policies.get(group.escalation) if ctx.oncall else None
        step = policy.step(group.escalation_pos) if policy else None
        silenced = group.silenced_until is not None and as_utc(group.silenced_until) > now
        if step is None or policy is None or group.acked_by or group.status != "firing" or silenced:
            with ctx.db.begin() as conn:
                conn.execute(update(alert_groups).where(alert_groups.c.id == group.id).values(escalation_next_at=None))
            continue
        targets = ctx.mentions_for(step.notify, now)
        level = group.escalation_pos % len(policy.steps) + 1
        waited = fmt_duration((now - (as_utc(group.first_notified_at) or now)).total_seconds())
        who = " ".join(f"@{p.name}" for p in targets) or "nobody is on call for " + ", ".join(step.notify)
        round_no = policy.round_of(group.escalation_pos)
        text = (
            f"⏫ Escalation level {level}/{len(policy.steps)} (round {round_no})"
            f": {who} — group #{group.id} not acked after {waited}. /ack {group.id}"
        )
        message = Message(text=text, blocks=(Section(text),), tone="warning", mentions=tuple(targets))
        ref = ctx.ref(group)
        try:
            await ctx.hub.send(ref.thread_place, message)
            if step.dm:
                for person in targets:
                    dm = Place(group.platform, person.identities.get(group.platform, person.name), is_direct=True)
                    await ctx.hub.send(
                        dm,
                        Message(
                            text=text,
                            blocks=(Section(f"{text}\nin {group.channel_name}: {group.title}"),),
                            tone="warning",
                        ),
                    )
        except Exception:
            log.exception("could not escalate alert group %s", group.id)
        following = policy.step(group.escalation_pos + 1)
        with ctx.db.begin() as conn:
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == group.id)
                .values(
                    escalation_pos=group.escalation_pos + 1,
                    escalation_next_at=(now + dt.timedelta(seconds=following.after)) if following else None,
                )
            )
            ctx.audit(
                conn,
                actor="opsroom",
                action="alert.escalate",
                channel=group.channel_name,
                platform=group.platform,
                summary=f"group #{group.id} escalated to level {level} ({policy.name}): "
                + (", ".join(p.name for p in targets) or "nobody on call"),
                detail={
                    "group": group.id,
                    "policy": policy.name,
                    "position": group.escalation_pos,
                    "notified": [p.name for p in targets],
                    "targets": list(step.notify),
                },
            )
