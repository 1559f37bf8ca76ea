"""Asking Alertmanager about groups silenced there.

Alertmanager's notify pipeline drops every notification about a silenced alert — its
resolution included — so a group silenced from opsroom would stay FIRING after its alerts
resolved. For such groups the notifier asks Alertmanager every ``silenced_poll`` seconds which
alerts it still holds as active; the ones it no longer holds are ingested as resolved, as if
the webhook had said so (same dedup, grouping, audit and card edit).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import select

from opsroom.alerts.context import AlertContext
from opsroom.alerts.ingest import store_batch
from opsroom.alerts.model import Alert
from opsroom.alerts.tables import alert_groups, alert_silences, alerts
from opsroom.integrations.monitoring.alertmanager import AlertmanagerClient, AlertmanagerError
from opsroom.store.types import as_utc

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SilencedPoll:
    """When each group was last asked about (by group id)."""

    last: dict[int, dt.datetime] = dataclasses.field(default_factory=dict)

    async def run(self, ctx: AlertContext, now: dt.datetime) -> int:
        """Resolve what Alertmanager no longer holds; returns how many alerts were resolved."""
        every = dt.timedelta(seconds=ctx.config.silenced_poll)
        with ctx.db.read() as conn:
            rows = conn.execute(
                select(
                    alert_groups.c.id,
                    alert_groups.c.source,
                    alert_silences.c.alertmanager_url,
                    alert_silences.c.matchers,
                )
                .join(alert_silences, alert_silences.c.group_id == alert_groups.c.id)
                .where(
                    alert_groups.c.closed_at.is_(None),
                    alert_silences.c.alertmanager_id != "",
                    alert_silences.c.cancelled_at.is_(None),
                    alert_silences.c.ends_at > now,
                )
            ).all()
        asked: set[int] = set()
        resolved = 0
        for row in rows:
            last = self.last.get(row.id)
            if row.id in asked or (last is not None and now - last < every):
                continue
            asked.add(row.id)
            self.last[row.id] = now
            try:
                client = AlertmanagerClient(row.alertmanager_url, http=ctx.http)
                active = await client.active_fingerprints(dict(row.matchers or {}))
            except AlertmanagerError as exc:
                log.warning("could not ask Alertmanager about silenced group %s: %s", row.id, exc)
                continue
            gone = _firing_alerts_not_in(ctx, row.id, active, now)
            if gone:
                resolved += (await ctx.offload(store_batch, ctx, row.source, gone, now)).changed
        self.last = {gid: when for gid, when in self.last.items() if gid in {r.id for r in rows}}
        return resolved


def _firing_alerts_not_in(ctx: AlertContext, gid: int, active: set[str], now: dt.datetime) -> list[Alert]:
    with ctx.db.read() as conn:
        group = conn.execute(select(alert_groups.c.source_type).where(alert_groups.c.id == gid)).one()
        stored = conn.execute(select(alerts).where(alerts.c.group_id == gid, alerts.c.status == "firing")).all()
    return [
        Alert(
            fingerprint=a.fingerprint,
            status="resolved",
            labels=dict(a.labels or {}),
            annotations=dict(a.annotations or {}),
            starts_at=as_utc(a.starts_at),
            ends_at=now,
            source_type=group.source_type,
            generator_url=a.generator_url or "",
        )
        for a in stored
        if a.fingerprint not in active
    ]
