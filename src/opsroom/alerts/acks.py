"""Acting on a group from chat: find it, ack it (which stops its escalation), show a runbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from opsroom.alerts.cards import refresh_card
from opsroom.alerts.context import AlertContext, AlertError
from opsroom.alerts.group_state import keep_due
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.alerts.views import open_group
from opsroom.core import Code, Message, Place, Principal, Section


def find_group(ctx: AlertContext, target: str | int) -> Any:
    """A group by id (``12``, ``#12``) or by alert name (the newest open group)."""
    text = str(target).strip().lstrip("#")
    with ctx.db.read() as conn:
        if text.isdigit():
            row = open_group(conn, int(text))
        else:
            row = conn.execute(
                select(alert_groups)
                .join(alerts, alerts.c.group_id == alert_groups.c.id)
                .where(alerts.c.alertname == text, alert_groups.c.closed_at.is_(None))
                .order_by(alert_groups.c.id.desc())
                .limit(1)
            ).first()
    if row is None:
        raise AlertError(f"no alert group {target!s} — `/alerts` lists what is firing")
    return row


async def ack(ctx: AlertContext, target: str | int, principal: Principal, place: Place | None = None) -> Message:
    async with ctx.lock:
        group = find_group(ctx, target)
        if group.acked_by:
            return Message.plain(f"Group #{group.id} was already acked by {group.acked_by}.")
        if group.closed_at is not None:
            return Message.plain(f"Group #{group.id} is already resolved.")
        now = ctx.clock()
        with ctx.db.begin() as conn:
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == group.id)
                .values(
                    acked_by=principal.name,
                    acked_at=now,
                    escalation_next_at=None,
                    next_due_at=keep_due(group),
                )
            )
            ctx.audit(
                conn,
                actor=principal.name,
                action="alert.ack",
                channel=group.channel_name,
                platform=place.platform if place else group.platform,
                summary=f"acked group #{group.id} {group.title}",
                detail={"group": group.id, "escalation_pos": group.escalation_pos},
            )
        await refresh_card(ctx, group.id, f"👀 Acked by {principal.label} — escalation stopped.")
    return Message.plain(f"Acked group #{group.id} ({group.title}).", tone="success")


def runbook(ctx: AlertContext, name: str) -> Message:
    base = Path(ctx.config.runbooks_dir).resolve() if ctx.config.runbooks_dir else None
    if base is None:
        raise AlertError("no runbooks_dir is configured")
    path = (base / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise AlertError(f"no runbook named {name!r}")
    text = path.read_text(errors="replace")[:20_000]
    return Message(text=f"Runbook {path.name}", blocks=(Section(f"*Runbook {path.name}*"), Code(text)))
