"""AlertService: intake → dedup → group → route → notify → escalate, with the timers.

Intake only writes state (fast, one transaction per payload) and wakes the notifier; the
notifier — ``tick()``, run by the task ``start()`` launches — is the only thing that posts
group messages, so a storm of webhooks never turns into a storm of chat calls. Every state
change that matters (posts, collapses, acks, silences, escalations) is audited inside the
same transaction as the change.

Everything time-based reads ``clock()``: tests move a fake clock and call ``tick()``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import httpx
from sqlalchemy import Connection, and_, bindparam, case, func, insert, or_, select, update

from opsroom.alerts import flapping
from opsroom.alerts.budget import ChannelBudget
from opsroom.alerts.grouping import group_key, group_labels, next_due
from opsroom.alerts.model import Alert, severity_rank
from opsroom.alerts.render import (
    DigestLine,
    Mint,
    fmt_duration,
    fmt_time,
    render_changes,
    render_digest,
    render_group,
)
from opsroom.alerts.routing import Route, Router
from opsroom.alerts.tables import (
    alert_digests,
    alert_events,
    alert_groups,
    alert_silences,
    alerts,
    oncall_overrides,
)
from opsroom.alerts.views import change_lines, group_view, open_group
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Code, Message, MessageRef, OpsroomError, Place, Principal, Section
from opsroom.integrations.monitoring.alertmanager import AlertmanagerClient, AlertmanagerError
from opsroom.integrations.oncall import OnCall, Override
from opsroom.store import Database
from opsroom.store.types import as_utc

log = logging.getLogger(__name__)
UTC = dt.UTC
CHUNK = 400  # ids per IN (...) clause
DIGEST_REFRESH = 2.0  # seconds between edits of one digest message


class Hub(Protocol):
    """What we need of ``opsroom.chat.base.ChatHub``."""

    async def send(self, place: Place, message: Message) -> MessageRef: ...

    async def update(self, ref: MessageRef, message: Message) -> MessageRef: ...


class AuditAppend(Protocol):
    def __call__(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        command: str = "",
        platform: str = "",
        channel: str = "",
        run_id: int | None = None,
        summary: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> Any: ...


class AlertError(OpsroomError):
    """A user-facing refusal (unknown group, bad duration…); nothing was changed."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclass
class IngestResult:
    accepted: int = 0
    new: int = 0
    changed: int = 0
    groups: int = 0
    muted: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Plan:
    key: str
    route: Route
    channel_name: str
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(matchers) and all(labels.get(k, "") == v for k, v in matchers.items())


class AlertService:
    def __init__(
        self,
        config: AlertsConfig,
        db: Database,
        hub: Hub,
        *,
        mint: Mint,
        audit_append: AuditAppend,
        oncall: OnCall | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        channels: Mapping[str, Place] | None = None,
        users: Mapping[str, Principal] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.hub = hub
        self.mint = mint
        self.audit_append = audit_append
        self.oncall = oncall
        self.clock = clock
        self.channels = dict(channels or {})
        self.users = dict(users or {})
        self.http = http
        self.router = Router(config.routes, config.default_channel)
        self.budget = ChannelBudget(config.budget.max_messages, config.budget.window)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._mutes: list[tuple[int, dict[str, str], dt.datetime]] | None = None
        self._last_scheduled_digest: dt.datetime | None = None

    # ------------------------------------------------------------------ places & people
    def place_for(self, channel_name: str) -> Place:
        place = self.channels.get(channel_name)
        if place is not None:
            return place
        return Place(self.config.platform, channel=channel_name, channel_name=channel_name)

    def principal(self, name: str) -> Principal:
        return self.users.get(name) or Principal(name=name)

    def mentions_for(self, targets: Iterable[str], now: dt.datetime) -> list[Principal]:
        names: list[str] = []
        for target in targets:
            resolved = (
                self.oncall.resolve(target, now)
                if self.oncall
                else ([] if target.startswith("oncall:") else [target])
            )
            names.extend(n for n in resolved if n not in names)
        return [self.principal(n) for n in names]

    def _audit(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        summary: str,
        channel: str = "",
        platform: str = "",
        detail: Mapping[str, Any] | None = None,
        command: str = "",
    ) -> None:
        self.audit_append(
            conn,
            actor=actor,
            action=action,
            command=command,
            platform=platform,
            channel=channel,
            summary=summary,
            detail=dict(detail or {}),
        )

    # ------------------------------------------------------------------ mutes (opsroom-side silences)
    def _active_mutes(
        self, conn: Connection, now: dt.datetime
    ) -> list[tuple[int, dict[str, str], dt.datetime]]:
        if self._mutes is None:
            rows = conn.execute(
                select(alert_silences.c.id, alert_silences.c.matchers, alert_silences.c.ends_at).where(
                    alert_silences.c.ends_at > now, alert_silences.c.cancelled_at.is_(None)
                )
            ).all()
            self._mutes = [(r.id, dict(r.matchers or {}), as_utc(r.ends_at) or now) for r in rows]
        return [m for m in self._mutes if m[2] > now]

    # ------------------------------------------------------------------ intake
    async def ingest(self, source: str, batch: Sequence[Alert]) -> IngestResult:
        """Store a parsed payload. Posting happens later, in ``tick()``."""
        result = self._ingest(source, batch, self.clock())
        self._wake.set()
        return result

    def _plans(self, batch: Sequence[Alert]) -> dict[str, _Plan]:
        plans: dict[str, _Plan] = {}
        default_group_by = self.config.grouping.group_by
        for alert in batch:
            for route in self.router.route(alert.labels):
                labels = group_labels(alert.labels, route.group_by or default_group_by)
                for channel in route.channels:
                    key = group_key(channel, route.name, labels)
                    plan = plans.get(key)
                    if plan is None:
                        plan = plans[key] = _Plan(key, route, channel, labels)
                    plan.alerts[alert.fingerprint] = alert  # a repeat within one payload: last wins
        return plans

    def _ingest(self, source: str, batch: Sequence[Alert], now: dt.datetime) -> IngestResult:
        result = IngestResult(accepted=len(batch))
        plans = self._plans(batch)
        if not plans:
            return result
        window, fcfg, timers = self.config.flapping.window, self.config.flapping, self.config.grouping
        ts = now.timestamp()
        with self.db.begin() as conn:
            mutes = self._active_mutes(conn, now)
            keys = list(plans)
            groups: dict[str, Any] = {}
            for part in _chunks(keys):
                for row in conn.execute(
                    select(
                        alert_groups.c.id,
                        alert_groups.c.open_key,
                        alert_groups.c.delivery,
                        alert_groups.c.created_at,
                        alert_groups.c.last_notified_at,
                    ).where(alert_groups.c.open_key.in_(part))
                ):
                    groups[row.open_key] = row
            self._reopen_recent(conn, plans, groups, now)
            new_rows = []
            for key, plan in plans.items():
                if key in groups or not any(a.status == "firing" for a in plan.alerts.values()):
                    continue
                first = max(plan.alerts.values(), key=lambda a: -severity_rank(a.severity))
                place = self.place_for(plan.channel_name)
                new_rows.append(
                    {
                        "open_key": key,
                        "group_key": key,
                        "route": plan.route.name,
                        "platform": place.platform,
                        "channel": place.channel,
                        "channel_name": plan.channel_name,
                        "labels": plan.labels,
                        "source": source,
                        "source_type": first.source_type,
                        "external_url": first.external_url,
                        "title": first.summary[:500],
                        "severity": first.severity,
                        "status": "firing",
                        "delivery": "pending",
                        "version": 0,
                        "dirty": True,
                        "flapping": False,
                        "created_at": now,
                        "updated_at": now,
                        "escalation": plan.route.escalation,
                        "escalation_pos": 0,
                        "next_due_at": now + dt.timedelta(seconds=timers.group_wait),
                    }
                )
            if new_rows:
                inserted = conn.execute(
                    insert(alert_groups).returning(
                        alert_groups.c.id,
                        alert_groups.c.open_key,
                        alert_groups.c.delivery,
                        alert_groups.c.created_at,
                        alert_groups.c.last_notified_at,
                    ),
                    new_rows,
                ).all()
                for row in inserted:
                    groups[row.open_key] = row
            result.groups = len(new_rows)
            gid_of = {key: groups[key].id for key in plans if key in groups}
            existing: dict[tuple[int, str], Any] = {}
            fps = list({fp for plan in plans.values() for fp in plan.alerts})
            gids = list(set(gid_of.values()))
            for gpart in _chunks(gids):
                for fpart in _chunks(fps):
                    for arow in conn.execute(
                        select(
                            alerts.c.id,
                            alerts.c.group_id,
                            alerts.c.fingerprint,
                            alerts.c.status,
                            alerts.c.changes,
                            alerts.c.flapping,
                            alerts.c.muted,
                        ).where(alerts.c.group_id.in_(gpart), alerts.c.fingerprint.in_(fpart))
                    ):
                        existing[(arow.group_id, arow.fingerprint)] = arow
            inserts, changes, touches, events = [], [], [], []
            changed_groups: set[int] = set()
            for key, plan in plans.items():
                gid = gid_of.get(key)
                if gid is None:
                    result.ignored += len(plan.alerts)  # resolved alerts of a group we never saw
                    continue
                for fp, alert in plan.alerts.items():
                    muted = any(_matches(m, alert.labels) for _, m, _ in mutes)
                    result.muted += muted
                    old = existing.get((gid, fp))
                    if old is None:
                        result.new += 1
                        inserts.append(
                            {
                                "group_id": gid,
                                "fingerprint": fp,
                                "alertname": alert.alertname[:200],
                                "severity": alert.severity[:50],
                                "status": alert.status,
                                "notified_status": None,
                                "labels": dict(alert.labels),
                                "annotations": dict(alert.annotations),
                                "starts_at": alert.starts_at,
                                "ends_at": alert.ends_at,
                                "generator_url": alert.generator_url,
                                "first_seen": now,
                                "last_seen": now,
                                "changes": [ts] if alert.status == "firing" else [],
                                "flapping": False,
                                "muted": muted,
                            }
                        )
                        if alert.status == "firing":
                            events.append(self._event(now, gid, plan.channel_name, alert))
                            if not muted:
                                changed_groups.add(gid)
                        continue
                    if old.status != alert.status:
                        result.changed += 1
                        recent = flapping.record_change(old.changes or [], ts, window)
                        flaps = flapping.is_flapping(recent, ts, fcfg) or (
                            bool(old.flapping) and not flapping.has_settled(recent, ts, fcfg)
                        )
                        changes.append(
                            {
                                "_id": old.id,
                                "_status": alert.status,
                                "_changes": recent,
                                "_flapping": flaps,
                                "_muted": muted,
                                "_annotations": dict(alert.annotations),
                                "_starts": alert.starts_at,
                                "_ends": alert.ends_at,
                                "_seen": now,
                            }
                        )
                        events.append(self._event(now, gid, plan.channel_name, alert))
                        # A flapping alert changes its group once (to show it flapping), then is held.
                        if not muted and not (flaps and old.flapping):
                            changed_groups.add(gid)
                    else:
                        touches.append({"_id": old.id, "_muted": muted, "_ends": alert.ends_at, "_seen": now})
                        if bool(old.muted) != muted and not muted and alert.status == "firing":
                            changed_groups.add(gid)  # its mute ran out: show it again
            if inserts:
                conn.execute(insert(alerts), inserts)
            if changes:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == bindparam("_id"))
                    .values(
                        status=bindparam("_status"),
                        changes=bindparam("_changes"),
                        flapping=bindparam("_flapping"),
                        muted=bindparam("_muted"),
                        annotations=bindparam("_annotations"),
                        starts_at=bindparam("_starts"),
                        ends_at=bindparam("_ends"),
                        last_seen=bindparam("_seen"),
                    ),
                    changes,
                )
            if touches:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == bindparam("_id"))
                    .values(
                        muted=bindparam("_muted"), ends_at=bindparam("_ends"), last_seen=bindparam("_seen")
                    ),
                    touches,
                )
            if events:
                conn.execute(insert(alert_events), events)
            if changed_groups:
                self._mark_changed(conn, sorted(changed_groups), now)
            self._audit(
                conn,
                actor=f"source:{source}",
                action="alert.intake",
                summary=f"{result.accepted} alert(s) from {source}: {result.new} new, "
                f"{result.changed} changed, {result.groups} new group(s)",
                detail=result.as_dict(),
            )
        return result

    def _reopen_recent(
        self, conn: Connection, plans: Mapping[str, _Plan], groups: dict[str, Any], now: dt.datetime
    ) -> None:
        """A group that fires again within ``flapping.window`` of its resolution is reopened:
        its message is edited back to firing (with "firing again" in its thread) instead of
        a new post, and its alerts keep their change history, so flapping is caught."""
        missing = [
            k
            for k, p in plans.items()
            if k not in groups and any(a.status == "firing" for a in p.alerts.values())
        ]
        if not missing:
            return
        since = now - dt.timedelta(seconds=self.config.flapping.window)
        latest: dict[str, Any] = {}
        for part in _chunks(missing):
            for row in conn.execute(
                select(
                    alert_groups.c.id,
                    alert_groups.c.group_key,
                    alert_groups.c.delivery,
                    alert_groups.c.created_at,
                    alert_groups.c.last_notified_at,
                    alert_groups.c.version,
                )
                .where(
                    alert_groups.c.group_key.in_(part),
                    alert_groups.c.closed_at > since,
                    alert_groups.c.delivery == "live",
                )
                .order_by(alert_groups.c.closed_at)
            ):
                latest[row.group_key] = row
        for key, row in latest.items():
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id == row.id)
                .values(open_key=key, closed_at=None, acked_by=None, acked_at=None, updated_at=now)
            )
            groups[key] = row

    @staticmethod
    def _event(now: dt.datetime, gid: int, channel: str, alert: Alert) -> dict[str, Any]:
        return {
            "ts": now,
            "group_id": gid,
            "channel_name": channel,
            "alertname": alert.alertname[:200],
            "fingerprint": alert.fingerprint,
            "status": alert.status,
        }

    def _mark_changed(self, conn: Connection, gids: Sequence[int], now: dt.datetime) -> None:
        """Recompute status/flapping of changed groups, mark them dirty, schedule a flush."""
        timers = self.config.grouping
        rows = []
        for part in _chunks(gids):
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

    # ------------------------------------------------------------------ the notifier
    async def start(self) -> None:
        """Restore the budget window and overrides, then run the timers in the background."""
        now = self.clock()
        since = now - dt.timedelta(seconds=self.config.budget.window)
        with self.db.read() as conn:
            for row in conn.execute(
                select(alert_groups.c.channel_name, alert_groups.c.first_notified_at).where(
                    alert_groups.c.delivery == "live", alert_groups.c.first_notified_at > since
                )
            ):
                self.budget.record(row.channel_name, (as_utc(row.first_notified_at) or now).timestamp())
        self.load_overrides()
        self._last_scheduled_digest = now
        if self.oncall is not None:
            for problem in await self.oncall.refresh_ical(now):
                log.warning("on-call iCal import: %s", problem)
        self._task = asyncio.create_task(self._run(), name="opsroom-alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                if self.oncall is not None:  # iCal feeds age; re-read those that are due
                    for problem in await self.oncall.refresh_due(self.clock()):
                        log.warning("on-call iCal import: %s", problem)
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert notifier tick failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.tick)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        """Do everything that is due now: flush groups, escalate, refresh digests."""
        async with self._lock:
            now = self.clock()
            self._settle(now)
            for _ in range(50):
                if not await self._flush_due(now):
                    break
            await self._escalate_due(now)
            await self._refresh_digests(now)
            if self._last_scheduled_digest is None:
                self._last_scheduled_digest = now
            elif (now - self._last_scheduled_digest).total_seconds() >= self.config.digest.interval:
                await self.send_scheduled_digests(now)

    def _settle(self, now: dt.datetime) -> None:
        """Flapping alerts that calmed down, and silences that ran out."""
        ts, fcfg = now.timestamp(), self.config.flapping
        with self.db.begin() as conn:
            settled = [
                r
                for r in conn.execute(
                    select(alerts.c.id, alerts.c.group_id, alerts.c.changes).where(
                        alerts.c.flapping.is_(True)
                    )
                )
                if flapping.has_settled(r.changes or [], ts, fcfg)
            ]
            if settled:
                conn.execute(
                    update(alerts).where(alerts.c.id.in_([r.id for r in settled])).values(flapping=False)
                )
                self._mark_changed(conn, sorted({r.group_id for r in settled}), now)
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
                    update(alert_groups)
                    .where(alert_groups.c.id.in_(expired))
                    .values(silenced_until=None, silence_ref=None)
                )
                self._mark_changed(conn, expired, now)

    def _collapse_over_budget(self, now: dt.datetime) -> None:
        """In a storm, collapse every due new group of a channel whose budget is spent into
        its digest in one statement (and one audit entry), instead of one by one."""
        ts = now.timestamp()
        due_new = and_(
            alert_groups.c.delivery == "pending",
            alert_groups.c.next_due_at <= now,
            alert_groups.c.closed_at.is_(None),
            alert_groups.c.status == "firing",
        )
        with self.db.read() as conn:
            channels = [
                r[0] for r in conn.execute(select(alert_groups.c.channel_name).where(due_new).distinct())
            ]
        for channel in channels:
            if self.budget.remaining(channel, ts) > 0:
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
            with self.db.begin() as conn:
                rows = conn.execute(
                    select(
                        alert_groups.c.id,
                        alert_groups.c.route,
                        alert_groups.c.severity,
                        alert_groups.c.platform,
                    ).where(due_new, alert_groups.c.channel_name == channel, unmuted)
                ).all()
                ids = [r.id for r in rows if not self._is_scheduled(r)]
                if not ids:
                    continue
                self._collapse_into_digest(
                    conn, ids, channel, rows[0].platform, now,
                    what=f"{len(ids)} new group(s)",
                    detail={"groups": ids[:1000], "count": len(ids)},
                )

    def _collapse_into_digest(self, conn: Connection, ids: list[int], channel: str, platform: str,
                              now: dt.datetime, *, what: str, detail: dict[str, Any]) -> None:
        """Over budget: these groups join the channel's storm digest instead of posting."""
        digest_id = self._budget_digest(conn, channel, now)
        for part in _chunks(ids):
            conn.execute(
                update(alert_groups)
                .where(alert_groups.c.id.in_(part))
                .values(delivery="digest", digest_id=digest_id, dirty=False, next_due_at=None,
                        first_notified_at=now, last_notified_at=now)
            )
        self._audit(
            conn,
            actor="opsroom",
            action="alert.route",
            channel=channel,
            platform=platform,
            summary=f"{what} collapsed into the storm digest of {channel} "
            f"(budget {self.config.budget.max_messages} per "
            f"{fmt_duration(self.config.budget.window)} spent)",
            detail={**detail, "delivery": "digest", "digest": digest_id},
        )

    async def _flush_due(self, now: dt.datetime, limit: int = 200) -> bool:
        self._collapse_over_budget(now)
        with self.db.read() as conn:
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
                await self._flush(gid, now)
            except Exception:
                log.exception("could not notify alert group %s", gid)
                with self.db.begin() as conn:
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == gid)
                        .values(next_due_at=now + dt.timedelta(seconds=30))
                    )
        return len(ids) == limit

    def _is_scheduled(self, group: Any) -> bool:
        route = self.router.by_name(group.route)
        return route.scheduled_digest or group.severity in self.config.digest.severities

    def _close(self, conn: Connection, gid: int, now: dt.datetime, **values: Any) -> None:
        conn.execute(
            update(alert_groups)
            .where(alert_groups.c.id == gid)
            .values(
                open_key=None, closed_at=now, next_due_at=None, escalation_next_at=None, dirty=False, **values
            )
        )

    def _reschedule(
        self, conn: Connection, gid: int, now: dt.datetime, *, version: int, **values: Any
    ) -> None:
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
            timers=self.config.grouping,
        )
        conn.execute(
            update(alert_groups)
            .where(alert_groups.c.id == gid)
            .values(dirty=still_dirty, next_due_at=due, **values)
        )

    def _render(
        self, conn: Connection, group: Any, now: dt.datetime, mentions: Sequence[Principal] = ()
    ) -> tuple[Message, Any]:
        view = group_view(conn, group)
        message = render_group(
            view,
            mint=self.mint,
            now=now,
            silence_durations=self.config.silence_durations,
            diagnostics=self.config.diagnostics,
            local_runbooks=bool(self.config.runbooks_dir),
            mentions=mentions,
        )
        return message, view

    def _ref(self, group: Any) -> MessageRef:
        place = Place(group.platform, group.channel, thread=group.thread, channel_name=group.channel_name)
        return MessageRef(place, group.message_id)

    async def _flush(self, gid: int, now: dt.datetime) -> None:
        with self.db.read() as conn:
            group = open_group(conn, gid)
            if group is None or group.closed_at is not None:
                return
            view = group_view(conn, group)
        version = group.version
        if group.delivery in ("pending", "muted"):
            await self._first_notification(group, view, now)
        elif group.delivery == "live":
            await self._update_live(group, view, now)
        elif group.delivery in ("digest", "scheduled"):
            with self.db.begin() as conn:
                if group.digest_id is not None:
                    conn.execute(
                        update(alert_digests).where(alert_digests.c.id == group.digest_id).values(dirty=True)
                    )
                if group.status == "resolved" and group.delivery == "digest":
                    self._close(conn, gid, now)
                else:
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == gid, alert_groups.c.version == version)
                        .values(dirty=False, next_due_at=None)
                    )

    async def _first_notification(self, group: Any, view: Any, now: dt.datetime) -> None:
        gid = group.id
        unmuted_firing = view.firing - view.muted
        if unmuted_firing <= 0:
            with self.db.begin() as conn:
                if view.firing == 0:
                    self._close(conn, gid, now)  # resolved before anyone needed to hear of it
                else:
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == gid)
                        .values(delivery="muted", dirty=False, next_due_at=None)
                    )
            return
        if self._is_scheduled(group):
            with self.db.begin() as conn:
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id == gid)
                    .values(delivery="scheduled", dirty=False, next_due_at=None)
                )
                self._audit(
                    conn,
                    actor="opsroom",
                    action="alert.route",
                    channel=group.channel_name,
                    platform=group.platform,
                    summary=f"group #{gid} {group.title} held for the scheduled digest in "
                    f"{group.channel_name} (severity {group.severity})",
                    detail={"group": gid, "route": group.route, "delivery": "scheduled"},
                )
            return
        if not self.budget.take(group.channel_name, now.timestamp()):
            with self.db.begin() as conn:
                self._collapse_into_digest(
                    conn, [gid], group.channel_name, group.platform, now,
                    what=f"group #{gid} {group.title}", detail={"group": gid, "route": group.route},
                )
            return
        route = self.router.by_name(group.route)
        mentions = self.mentions_for(route.mentions_for(group.severity), now)
        with self.db.read() as conn:
            message, _ = self._render(conn, group, now, mentions)
        place = self.place_for(group.channel_name)
        ref = await self.hub.send(place, message)
        policy = self.oncall.policies.get(group.escalation) if (self.oncall and group.escalation) else None
        first_step = policy.step(0) if policy else None
        with self.db.begin() as conn:
            lines, shown = change_lines(conn, gid, limit=0)
            self._mark_shown(conn, shown)
            self._reschedule(
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
            self._audit(
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

    @staticmethod
    def _mark_shown(conn: Connection, shown: Sequence[tuple[int, str, str]]) -> None:
        """Record what the message now shows, unless intake changed the alert meanwhile."""
        if shown:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == bindparam("_id"), alerts.c.status == bindparam("_status"))
                .values(notified_status=bindparam("_shown")),
                [{"_id": i, "_status": s, "_shown": n} for i, s, n in shown],
            )

    async def _update_live(self, group: Any, view: Any, now: dt.datetime) -> None:
        gid, ref = group.id, self._ref(group)
        if group.dirty:
            with self.db.read() as conn:
                message, view = self._render(conn, group, now)
                lines, shown = change_lines(conn, gid)
            await self.hub.update(ref, message)
            if lines:
                await self.hub.send(ref.thread_place, render_changes(view, lines))
            with self.db.begin() as conn:
                self._mark_shown(conn, shown)
                current = open_group(conn, gid)
                if current.status == "resolved" and current.version == group.version:
                    self._close(conn, gid, now, last_notified_at=now)
                else:
                    self._reschedule(conn, gid, now, version=group.version, last_notified_at=now)
            return
        # Nothing changed: a repeat reminder for a firing group nobody has acked or silenced.
        if group.status == "firing":
            age = fmt_duration((now - view.created_at).total_seconds())
            await self.hub.send(
                ref.thread_place,
                Message.plain(
                    f"🔁 still firing after {age}: {view.firing} alert(s) — ack with /ack {gid}",
                    tone="warning",
                ),
            )
        with self.db.begin() as conn:
            self._reschedule(conn, gid, now, version=group.version, last_notified_at=now)

    def _budget_digest(self, conn: Connection, channel_name: str, now: dt.datetime) -> int:
        since = now - dt.timedelta(seconds=self.config.budget.window)
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
        place = self.place_for(channel_name)
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

    async def _refresh_digests(self, now: dt.datetime) -> None:
        throttle = now - dt.timedelta(seconds=DIGEST_REFRESH)
        with self.db.read() as conn:
            due = conn.execute(
                select(alert_digests).where(
                    alert_digests.c.dirty.is_(True),
                    alert_digests.c.kind == "budget",
                    or_(alert_digests.c.message_id.is_(None), alert_digests.c.updated_at <= throttle),
                )
            ).all()
        for digest in due:
            with self.db.read() as conn:
                lines, total, firing = self._digest_lines(conn, alert_groups.c.digest_id == digest.id)
            message = render_digest(
                digest.channel_name,
                lines,
                total=total,
                firing=firing,
                scheduled=False,
                window=self.config.budget.window,
            )
            try:
                if digest.message_id is None:
                    ref = await self.hub.send(self.place_for(digest.channel_name), message)
                    values: dict[str, Any] = {"message_id": ref.message_id}
                else:
                    place = Place(digest.platform, digest.channel, channel_name=digest.channel_name)
                    await self.hub.update(MessageRef(place, digest.message_id), message)
                    values = {}
            except Exception:
                log.exception("could not post the alert digest for %s", digest.channel_name)
                continue
            with self.db.begin() as conn:
                conn.execute(
                    update(alert_digests)
                    .where(alert_digests.c.id == digest.id)
                    .values(dirty=False, updated_at=now, **values)
                )

    def _digest_lines(self, conn: Connection, where: Any) -> tuple[list[DigestLine], int, int]:
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

    async def send_scheduled_digests(self, now: dt.datetime | None = None) -> int:
        """Post one digest per channel of the low-severity groups held since the last one."""
        now = now or self.clock()
        self._last_scheduled_digest = now
        pending = and_(
            alert_groups.c.delivery == "scheduled",
            or_(alert_groups.c.digested_at.is_(None), alert_groups.c.updated_at > alert_groups.c.digested_at),
        )
        with self.db.read() as conn:
            channels = [
                r[0] for r in conn.execute(select(alert_groups.c.channel_name).where(pending).distinct())
            ]
        posted = 0
        for channel in channels:
            where = and_(pending, alert_groups.c.channel_name == channel)
            with self.db.read() as conn:
                lines, total, firing = self._digest_lines(conn, where)
                ids = [r.id for r in conn.execute(select(alert_groups.c.id).where(where))]
            if not ids:
                continue
            ref = await self.hub.send(
                self.place_for(channel),
                render_digest(channel, lines, total=total, firing=firing, scheduled=True),
            )
            posted += 1
            with self.db.begin() as conn:
                for part in _chunks(ids):
                    conn.execute(
                        update(alert_groups).where(alert_groups.c.id.in_(part)).values(digested_at=now)
                    )
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id.in_(part), alert_groups.c.status == "resolved")
                        .values(open_key=None, closed_at=now, next_due_at=None)
                    )
                self._audit(
                    conn,
                    actor="opsroom",
                    action="alert.digest",
                    channel=channel,
                    platform=ref.place.platform,
                    summary=f"scheduled digest of {total} group(s) posted to {channel}",
                    detail={"groups": ids[:100], "message_id": ref.message_id},
                )
        return posted

    # ------------------------------------------------------------------ escalation
    async def _escalate_due(self, now: dt.datetime) -> None:
        with self.db.read() as conn:
            due = conn.execute(
                select(alert_groups).where(
                    alert_groups.c.escalation_next_at <= now, alert_groups.c.closed_at.is_(None)
                )
            ).all()
        for group in due:
            policy = self.oncall.policies.get(group.escalation) if self.oncall else None
            step = policy.step(group.escalation_pos) if policy else None
            silenced = group.silenced_until is not None and as_utc(group.silenced_until) > now
            if step is None or policy is None or group.acked_by or group.status != "firing" or silenced:
                with self.db.begin() as conn:
                    conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == group.id)
                        .values(escalation_next_at=None)
                    )
                continue
            targets = self.mentions_for(step.notify, now)
            level = group.escalation_pos % len(policy.steps) + 1
            waited = fmt_duration((now - (as_utc(group.first_notified_at) or now)).total_seconds())
            who = " ".join(f"@{p.name}" for p in targets) or "nobody is on call for " + ", ".join(step.notify)
            round_no = policy.round_of(group.escalation_pos)
            text = (
                f"⏫ Escalation level {level}/{len(policy.steps)} (round {round_no})"
                f": {who} — group #{group.id} not acked after {waited}. /ack {group.id}"
            )
            message = Message(text=text, blocks=(Section(text),), tone="warning", mentions=tuple(targets))
            ref = self._ref(group)
            try:
                await self.hub.send(ref.thread_place, message)
                if step.dm:
                    for person in targets:
                        dm = Place(
                            group.platform, person.identities.get(group.platform, person.name), is_direct=True
                        )
                        await self.hub.send(
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
            with self.db.begin() as conn:
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id == group.id)
                    .values(
                        escalation_pos=group.escalation_pos + 1,
                        escalation_next_at=(now + dt.timedelta(seconds=following.after))
                        if following
                        else None,
                    )
                )
                self._audit(
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

    # ------------------------------------------------------------------ acting on alerts
    def find_group(self, target: str | int) -> Any:
        """A group by id (``12``, ``#12``) or by alert name (the newest open group)."""
        text = str(target).strip().lstrip("#")
        with self.db.read() as conn:
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

    async def _refresh_message(self, gid: int, note: str) -> None:
        """Re-render a live group after an ack/silence and say so in its thread."""
        now = self.clock()
        with self.db.read() as conn:
            group = open_group(conn, gid)
            if group is None or group.delivery != "live" or not group.message_id:
                return
            message, _ = self._render(conn, group, now)
        ref = self._ref(group)
        try:
            await self.hub.update(ref, message)
            await self.hub.send(ref.thread_place, Message.plain(note))
        except Exception:
            log.exception("could not update the message of alert group %s", gid)

    @staticmethod
    def _keep_due(group: Any) -> dt.datetime | None:
        """After an ack or silence: drop a pending repeat reminder, keep a pending post/edit."""
        return group.next_due_at if (group.dirty or group.delivery != "live") else None

    async def ack(self, target: str | int, principal: Principal, place: Place | None = None) -> Message:
        async with self._lock:
            group = self.find_group(target)
            if group.acked_by:
                return Message.plain(f"Group #{group.id} was already acked by {group.acked_by}.")
            if group.closed_at is not None:
                return Message.plain(f"Group #{group.id} is already resolved.")
            now = self.clock()
            with self.db.begin() as conn:
                conn.execute(
                    update(alert_groups)
                    .where(alert_groups.c.id == group.id)
                    .values(
                        acked_by=principal.name,
                        acked_at=now,
                        escalation_next_at=None,
                        next_due_at=self._keep_due(group),
                    )
                )
                self._audit(
                    conn,
                    actor=principal.name,
                    action="alert.ack",
                    channel=group.channel_name,
                    platform=place.platform if place else group.platform,
                    summary=f"acked group #{group.id} {group.title}",
                    detail={"group": group.id, "escalation_pos": group.escalation_pos},
                )
            await self._refresh_message(group.id, f"👀 Acked by {principal.label} — escalation stopped.")
        return Message.plain(f"Acked group #{group.id} ({group.title}).", tone="success")

    def _alertmanager_url(self, group: Any) -> str:
        source = self.config.sources.get(group.source)
        if source is not None and source.alertmanager_url:
            return source.alertmanager_url
        if group.source_type != "alertmanager":
            return ""
        if group.external_url.startswith(("http://", "https://")):
            return str(group.external_url)
        return self.config.alertmanager_url

    def _silence_matchers(self, group: Any) -> dict[str, str]:
        matchers = {k: v for k, v in (group.labels or {}).items() if v}
        if matchers:
            return matchers
        with self.db.read() as conn:
            view = group_view(conn, group)
        return {k: v for k, v in view.common_labels.items() if v} or {"alertname": view.alerts[0].alertname}

    async def silence(
        self,
        target: str | int,
        seconds: float,
        principal: Principal,
        place: Place | None = None,
        comment: str = "",
    ) -> Message:
        if seconds < 60 or seconds > self.config.max_silence:
            raise AlertError(f"a silence lasts from 1m to {fmt_duration(self.config.max_silence)}")
        async with self._lock:
            group = self.find_group(target)
            if group.closed_at is not None:
                return Message.plain(f"Group #{group.id} is already resolved; nothing to silence.")
            now = self.clock()
            ends = now + dt.timedelta(seconds=seconds)
            matchers = self._silence_matchers(group)
            am_url = self._alertmanager_url(group)
            am_id = ""
            note = comment or f"silenced from opsroom by {principal.name} (group #{group.id})"
            if am_url:
                try:
                    client = AlertmanagerClient(am_url, http=self.http)
                    am_id = await client.create_silence(
                        matchers, starts_at=now, ends_at=ends, created_by=principal.name, comment=note
                    )
                except AlertmanagerError as exc:
                    return Message.plain(f"Could not silence group #{group.id}: {exc}", tone="failure")
            with self.db.begin() as conn:
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
                        next_due_at=self._keep_due(group),
                    )
                )
                where = "in Alertmanager " + am_id if am_id else "in opsroom"
                self._audit(
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
            self._mutes = None
            matcher_text = ", ".join(f"{k}={v}" for k, v in matchers.items())
            where_text = f"Alertmanager silence `{am_id}`" if am_id else "opsroom mute"
            await self._refresh_message(
                group.id,
                f"🔕 Silenced by {principal.label} for {fmt_duration(seconds)} "
                f"(until {fmt_time(ends)}; {where_text}; {matcher_text}).",
            )
        return Message.plain(
            f"Silenced group #{group.id} for {fmt_duration(seconds)} ({where_text} "
            f"#{silence_id}: {matcher_text}). Undo with /unsilence {silence_id}.",
            tone="success",
        )

    async def unsilence(self, target: str | int, principal: Principal, place: Place | None = None) -> Message:
        """``target`` is a silence id (as /silence answered) or ``#<group id>``."""
        text = str(target).strip()
        now = self.clock()
        async with self._lock:
            with self.db.read() as conn:
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
                        await AlertmanagerClient(row.alertmanager_url, http=self.http).expire_silence(
                            row.alertmanager_id
                        )
                    except AlertmanagerError as exc:
                        return Message.plain(f"Could not lift silence {row.id}: {exc}", tone="failure")
            with self.db.begin() as conn:
                for row in rows:
                    conn.execute(
                        update(alert_silences).where(alert_silences.c.id == row.id).values(cancelled_at=now)
                    )
                    if row.group_id is not None:
                        conn.execute(
                            update(alert_groups)
                            .where(
                                alert_groups.c.id == row.group_id, alert_groups.c.silence_ref == str(row.id)
                            )
                            .values(silenced_until=None, silence_ref=None)
                        )
                        self._mark_changed(conn, [row.group_id], now)
                    self._audit(
                        conn,
                        actor=principal.name,
                        action="alert.unsilence",
                        platform=place.platform if place else "",
                        summary=f"lifted silence {row.id}"
                        + (f" (Alertmanager {row.alertmanager_id})" if row.alertmanager_id else ""),
                        detail={"silence": row.id, "group": row.group_id, "matchers": row.matchers},
                    )
            self._mutes = None
            for row in rows:
                if row.group_id is not None:
                    await self._refresh_message(row.group_id, f"🔔 Silence lifted by {principal.label}.")
        self._wake.set()
        return Message.plain(f"Lifted {len(rows)} silence(s).", tone="success")

    def runbook(self, name: str) -> Message:
        base = Path(self.config.runbooks_dir).resolve() if self.config.runbooks_dir else None
        if base is None:
            raise AlertError("no runbooks_dir is configured")
        path = (base / name).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise AlertError(f"no runbook named {name!r}")
        text = path.read_text(errors="replace")[:20_000]
        return Message(text=f"Runbook {path.name}", blocks=(Section(f"*Runbook {path.name}*"), Code(text)))

    async def handle_action(
        self, kind: str, payload: Mapping[str, Any], principal: Principal, place: Place
    ) -> Message | None:
        """Button clicks the engine has already verified and authorized."""
        try:
            group = int(payload.get("group", 0))
            if kind == "alert.ack":
                return await self.ack(group, principal, place)
            if kind == "alert.silence":
                return await self.silence(group, float(payload.get("seconds", 3600)), principal, place)
            if kind == "alert.runbook":
                return self.runbook(str(payload.get("name", "")))
        except AlertError as exc:
            return Message.plain(str(exc), tone="warning")
        except (TypeError, ValueError):
            return Message.plain("that button carries a broken payload", tone="warning")
        return None

    # ------------------------------------------------------------------ on-call overrides
    def load_overrides(self) -> None:
        if self.oncall is None:
            return
        now = self.clock()
        by_schedule: dict[str, list[Override]] = {name: [] for name in self.oncall.names}
        with self.db.read() as conn:
            for row in conn.execute(
                select(oncall_overrides)
                .where(oncall_overrides.c.ends_at > now)
                .order_by(oncall_overrides.c.id)
            ):
                by_schedule.setdefault(row.schedule, []).append(
                    Override(row.user, as_utc(row.starts_at) or now, as_utc(row.ends_at) or now)
                )
        for name, overrides in by_schedule.items():
            if name in self.oncall.names:
                self.oncall.set_overrides(name, overrides)

    def add_override(
        self, schedule: str, user: str, seconds: float, principal: Principal, place: Place | None = None
    ) -> Message:
        if self.oncall is None or schedule not in self.oncall.names:
            raise AlertError(f"no on-call schedule {schedule!r}")
        if seconds < 60 or seconds > self.oncall.config.max_override:
            raise AlertError(f"an override lasts from 1m to {fmt_duration(self.oncall.config.max_override)}")
        now = self.clock()
        ends = now + dt.timedelta(seconds=seconds)
        with self.db.begin() as conn:
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
            self._audit(
                conn,
                actor=principal.name,
                action="oncall.override",
                platform=place.platform if place else "",
                channel=place.name if place else "",
                summary=f"{user} is on call for {schedule} until {fmt_time(ends)}",
                detail={"schedule": schedule, "user": user, "ends_at": ends.isoformat()},
            )
        self.load_overrides()
        return Message.plain(f"{user} is on call for {schedule} until {fmt_time(ends)}.", tone="success")
