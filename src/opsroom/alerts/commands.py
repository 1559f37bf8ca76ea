"""Chat commands for alerts and on-call: ``/alerts``, ``/alerts noise``, ``/ack``,
``/silence``, ``/unsilence``, ``/oncall``, ``/oncall override``, ``/query``.

The engine parses and authorizes them like any command (policy action = the command name)
and then calls ``HANDLERS[name](service, invocation)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Awaitable, Callable

from sqlalchemy import case, func, select

from opsroom.alerts.model import severity_rank
from opsroom.alerts.render import fmt_time
from opsroom.alerts.service import AlertError, AlertService
from opsroom.alerts.tables import alert_events, alert_groups
from opsroom.clock import config_seconds as parse_duration
from opsroom.clock import short as fmt_duration
from opsroom.core import ArgSpec, ArgType, CommandSpec, Fields, Invocation, Message, Section
from opsroom.integrations.monitoring.prometheus import PrometheusClient, PrometheusError, sparkline
from opsroom.store.types import as_utc

Handler = Callable[[AlertService, Invocation], Awaitable[Message]]
LIST_LIMIT = 30

ALERT_COMMANDS: list[CommandSpec] = [
    CommandSpec(
        name="alerts",
        builtin=True,
        read_only=True,
        summary="What is firing now (in this channel, a named one, or all); `alerts noise` for the noisiest",
        args=(
            ArgSpec("scope", required=False, max_length=200, help="`all`, a channel like `#payments`, or `noise`"),
            ArgSpec("channel", required=False, max_length=200, help="with `noise`: one channel"),
        ),
        examples=("alerts", "alerts all", "alerts #payments", "alerts noise", "alerts noise #payments"),
    ),
    CommandSpec(
        name="ack",
        builtin=True,
        summary="Acknowledge an alert group: stops its escalation and reminders",
        args=(ArgSpec("group", max_length=200, help="group id (as shown on the alert) or alert name"),),
        examples=("ack 12",),
    ),
    CommandSpec(
        name="silence",
        builtin=True,
        summary="Silence an alert group (in Alertmanager when it came from there, else in opsroom)",
        args=(
            ArgSpec("target", max_length=200, help="group id or alert name"),
            ArgSpec("duration", type=ArgType.DURATION, help="how long, e.g. 2h", min=60, max=30 * 86400),
            ArgSpec("comment", required=False, max_length=500, positional=False),
        ),
        examples=("silence 12 2h", "silence PaymentsHighErrorRate 30m comment='deploy in progress'"),
    ),
    CommandSpec(
        name="unsilence",
        builtin=True,
        summary="Lift a silence made with /silence",
        args=(ArgSpec("target", max_length=50, pattern=r"#?\d+", help="silence id, or #<group id>"),),
        examples=("unsilence 7", "unsilence #12"),
    ),
    CommandSpec(
        name="oncall",
        builtin=True,
        summary="Who is on call now and next; `oncall override alice 2h` puts someone on call",
        args=(
            ArgSpec("action", required=False, max_length=100, help="a schedule name, or `override`"),
            ArgSpec("user", required=False, max_length=200, help="with override: who takes over"),
            ArgSpec("duration", required=False, max_length=20, help="with override: for how long"),
            ArgSpec("schedule", required=False, max_length=100, help="with override: which schedule"),
        ),
        examples=("oncall", "oncall primary", "oncall override alice 2h", "oncall override bob 8h secondary"),
    ),
    CommandSpec(
        name="query",
        builtin=True,
        read_only=True,
        summary="Run a read-only PromQL query and show the value with a sparkline",
        args=(ArgSpec("promql", max_length=2000, help="the expression; quote it if it has spaces"),),
        examples=("query up", "query 'sum by (job) (rate(http_requests_total[5m]))'"),
    ),
]


def _channel_scope(invocation: Invocation) -> str | None:
    scope = str(invocation.args.get("scope") or "").strip()
    if scope == "all":
        return None
    if scope:
        return scope if scope.startswith("#") else f"#{scope}"
    return invocation.place.name if invocation.place.name.startswith("#") else None


async def cmd_alerts(service: AlertService, invocation: Invocation) -> Message:
    if str(invocation.args.get("scope") or "") == "noise":
        channel = str(invocation.args.get("channel") or "").strip() or None
        return noise_report(service, channel=channel)
    channel = _channel_scope(invocation)
    now = service.clock()
    where = [alert_groups.c.closed_at.is_(None), alert_groups.c.status == "firing"]
    if channel:
        where.append(alert_groups.c.channel_name == channel)
    with service.db.read() as conn:
        rows = conn.execute(
            select(alert_groups).where(*where).order_by(alert_groups.c.created_at.desc()).limit(200)
        ).all()
    if not rows:
        where_text = f" in {channel}" if channel else ""
        return Message.plain(f"Nothing is firing{where_text}. 🎉", tone="success")
    rows = sorted(rows, key=lambda r: (severity_rank(r.severity), -(as_utc(r.created_at) or now).timestamp()))
    lines = []
    for row in rows[:LIST_LIMIT]:
        since = fmt_duration((now - (as_utc(row.created_at) or now)).total_seconds())
        notes = []
        if row.acked_by:
            notes.append(f"acked by {row.acked_by}")
        silenced = as_utc(row.silenced_until)
        if silenced and silenced > now:
            notes.append(f"silenced until {fmt_time(silenced)}")
        if row.flapping:
            notes.append("flapping")
        if row.delivery == "digest":
            notes.append("in storm digest")
        extra = f" — {', '.join(notes)}" if notes else ""
        place = "" if channel else f" {row.channel_name}"
        lines.append(f"#{row.id} [{row.severity}] *{row.title}*{place} — for {since}{extra}")
    if len(rows) > LIST_LIMIT:
        lines.append(f"…and {len(rows) - LIST_LIMIT} more")
    head = f"🔥 {len(rows)} alert group(s) firing" + (f" in {channel}" if channel else "")
    return Message(text=head, blocks=(Section(head), Section("\n".join(lines))), tone="warning")


def noise_report(service: AlertService, *, channel: str | None = None, days: int = 7, per_channel: int = 5) -> Message:
    """The alerts that fired most per channel over the last ``days``, so a team can fix the
    source instead of muting the channel."""
    since = service.clock() - dt.timedelta(days=days)
    fired = func.sum(case((alert_events.c.status == "firing", 1), else_=0)).label("fired")
    resolved = func.sum(case((alert_events.c.status == "resolved", 1), else_=0)).label("resolved")
    query = (
        select(
            alert_events.c.channel_name,
            alert_events.c.alertname,
            fired,
            resolved,
            func.count(func.distinct(alert_events.c.fingerprint)).label("series"),
        )
        .where(alert_events.c.ts >= since)
        .group_by(alert_events.c.channel_name, alert_events.c.alertname)
    )
    if channel:
        query = query.where(alert_events.c.channel_name == channel)
    with service.db.read() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return Message.plain(f"No alerts in the last {days} days" + (f" in {channel}" if channel else "") + ".")
    by_channel: dict[str, list[tuple[str, int, int, int]]] = {}
    for row in rows:
        by_channel.setdefault(row.channel_name, []).append(
            (row.alertname, int(row.fired or 0), int(row.resolved or 0), int(row.series or 0))
        )
    blocks: list[Section | Fields] = [Section(f"📊 *Noisiest alerts over the last {days} days*")]
    for name in sorted(by_channel, key=lambda c: -sum(x[1] for x in by_channel[c])):
        top = sorted(by_channel[name], key=lambda x: (-x[1], x[0]))[:per_channel]
        total = sum(x[1] for x in by_channel[name])
        lines = [
            f"{fired}× {alertname} ({series} series, {resolved} resolutions)"
            for alertname, fired, resolved, series in top
        ]
        blocks.append(Section(f"*{name}* — {total} firing(s)\n" + "\n".join(lines)))
    return Message(text=f"Noisiest alerts over the last {days} days", blocks=tuple(blocks))


async def cmd_ack(service: AlertService, invocation: Invocation) -> Message:
    try:
        return await service.ack(str(invocation.args["group"]), invocation.principal, invocation.place)
    except AlertError as exc:
        return Message.plain(str(exc), tone="warning")


async def cmd_silence(service: AlertService, invocation: Invocation) -> Message:
    try:
        return await service.silence(
            str(invocation.args["target"]),
            float(invocation.args["duration"]),
            invocation.principal,
            invocation.place,
            comment=str(invocation.args.get("comment") or ""),
        )
    except AlertError as exc:
        return Message.plain(str(exc), tone="warning")


async def cmd_unsilence(service: AlertService, invocation: Invocation) -> Message:
    try:
        return await service.unsilence(str(invocation.args["target"]), invocation.principal, invocation.place)
    except AlertError as exc:
        return Message.plain(str(exc), tone="warning")


def oncall_report(service: AlertService, schedule: str | None = None) -> Message:
    oncall = service.oncall
    if oncall is None or not oncall.names:
        return Message.plain("No on-call schedules are configured (see `oncall:` in opsroom.yaml).")
    names = [schedule] if schedule else oncall.names
    now = service.clock()
    items = []
    for name in names:
        if name not in oncall.names:
            return Message.plain(f"No on-call schedule {name!r}; there are: {', '.join(oncall.names)}", tone="warning")
        sched = oncall.schedule(name)
        shift = sched.shift_at(now)
        nxt = sched.next_handoff(now)
        current = f"*{shift.who}*" if shift else "nobody"
        later = f"{nxt[1] or 'nobody'} from {fmt_time(nxt[0])}" if nxt else "no change in sight"
        feeds = "".join(f" · {note}" for note in oncall.feed_notes(name, now))
        items.append((name, f"{current} now · next: {later}{feeds}"))
    return Message(
        text="On call: " + "; ".join(f"{n}: {t.replace('*', '')}" for n, t in items),
        blocks=(Section("📟 *On call*"), Fields(tuple(items))),
    )


async def cmd_oncall(service: AlertService, invocation: Invocation) -> Message:
    action = str(invocation.args.get("action") or "").strip()
    if action != "override":
        return oncall_report(service, action or None)
    user = str(invocation.args.get("user") or "").strip()
    duration = str(invocation.args.get("duration") or "").strip()
    if not user or not duration:
        return Message.plain(
            "usage: oncall override <user> <duration> [schedule], e.g. oncall override alice 2h",
            tone="warning",
        )
    names = service.oncall.names if service.oncall else []
    schedule = str(invocation.args.get("schedule") or "").strip()
    if not schedule:
        if len(names) != 1:
            return Message.plain(f"which schedule? one of: {', '.join(names) or 'none configured'}", tone="warning")
        schedule = names[0]
    if service.users and user not in service.users:
        return Message.plain(f"{user!r} is not a configured user", tone="warning")
    try:
        seconds = parse_duration(duration)
        return service.add_override(schedule, user, seconds, invocation.principal, invocation.place)
    except (AlertError, ValueError) as exc:
        return Message.plain(str(exc), tone="warning")


async def cmd_query(service: AlertService, invocation: Invocation) -> Message:
    if not service.config.prometheus_url:
        return Message.plain("No Prometheus is configured (alerts.prometheus_url).", tone="warning")
    expression = str(invocation.args.get("promql") or "")
    try:
        client = PrometheusClient(service.config.prometheus_url, http=service.http)
        kind, series = await client.query(expression, at=service.clock())
    except PrometheusError as exc:
        return Message.plain(str(exc), tone="warning")
    if not series:
        return Message.plain(f"`{expression}` returned no data.")
    lines = []
    for s in series:
        name = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) or kind
        value = "—" if s.value is None else f"{s.value:g}"
        spark = sparkline(s.points)
        lines.append(f"{name}: *{value}*" + (f"  {spark}" if spark else ""))
    return Message(text=f"{expression} = {lines[0]}", blocks=(Section(f"`{expression}`"), Section("\n".join(lines))))


HANDLERS: dict[str, Handler] = {
    "alerts": cmd_alerts,
    "ack": cmd_ack,
    "silence": cmd_silence,
    "unsilence": cmd_unsilence,
    "oncall": cmd_oncall,
    "query": cmd_query,
}
