"""Intake: store a parsed batch — dedup by fingerprint, group by route, track flapping.

One transaction per payload, and nothing is posted here: the notifier (``notifier.py``)
picks up the groups this marks dirty, so a storm of webhooks never becomes a storm of
chat calls. A group that fires again shortly after it resolved is reopened, not re-posted.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any, Mapping, NamedTuple, Sequence

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from opsroom.alerts import flapping, open_groups
from opsroom.alerts.batch import many, many_rows, rows_where_in
from opsroom.alerts.context import CHUNK, AlertContext, chunks, matches
from opsroom.alerts.group_state import GROUP_COLUMNS, mark_changed
from opsroom.alerts.model import Alert, severity_rank
from opsroom.alerts.planning import Plan, plan_batch
from opsroom.alerts.tables import alert_events, alert_groups, alerts
from opsroom.policy import redaction
from opsroom.policy.redaction import Redactor
from opsroom.store.db import DriverStatement, driver_execute

_INSERT_ALERT = DriverStatement(insert(alerts))
_INSERT_EVENT = DriverStatement(insert(alert_events))
# The columns of a new alert's row and of an event row, in the order intake builds them
# (tuples: a dict per row cost more than the row; ``batch.many_rows``).
_ALERT_KEYS = tuple(
    "group_id fingerprint alertname severity status notified_status labels annotations starts_at ends_at"
    " generator_url first_seen last_seen changes flapping muted".split()
)
_EVENT_KEYS = ("ts", "group_id", "channel_name", "alertname", "fingerprint", "status")
_CHANGE_ALERT = DriverStatement(
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
    )
)
_TOUCH_ALERT = DriverStatement(
    update(alerts)
    .where(alerts.c.id == bindparam("_id"))
    .values(muted=bindparam("_muted"), ends_at=bindparam("_ends"), last_seen=bindparam("_seen"))
)


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


def store_batch(ctx: AlertContext, source: str, batch: Sequence[Alert], now: dt.datetime) -> IngestResult:
    """Store one payload in a transaction of its own."""
    return store_batches(ctx, [(source, batch, now)])[0]


def store_batches(
    ctx: AlertContext, payloads: Sequence[tuple[str, Sequence[Alert], dt.datetime]]
) -> list[IngestResult]:
    """Store payloads one after the other in one transaction (one commit for all: intake's
    ``IntakeQueue`` hands over the payloads that arrived while the last commit ran). Each is
    stored exactly as on its own; the next sees what the one before wrote."""
    redactor = redaction.current()
    with ctx.open_groups.transaction(ctx.db) as (conn, rows):
        return [_store(ctx, conn, source, _masked(batch, redactor), now, rows) for source, batch, now in payloads]


class Redacted(list[Alert]):
    """A batch already passed through ``redacted`` (by ``redact_ahead``, on the parse thread:
    the alert thread, the one intake's rate depends on, then does not scan it again), and,
    made by ``prepare``, its groups planned for one ``AlertContext`` (nor plans it again)."""

    redactor: Redactor
    planned: tuple[AlertContext, dict[str, Plan]] | None = None


def redact_ahead(batch: Sequence[Alert]) -> Redacted:
    """``redacted(batch)`` by the current redactor, marked so that storing it does not redact
    it again; any other batch is redacted when it is stored."""
    redactor = redaction.current()
    out = Redacted(redacted(batch, redactor))
    out.redactor = redactor
    return out


def prepare(ctx: AlertContext, batch: Sequence[Alert]) -> Redacted:
    """``redact_ahead(batch)`` with its groups planned (``plan_batch``: pure work on the
    batch and the routes), on the webhook's parse thread: the alert thread, which every
    payload waits for, takes the plans as they are (as many alerts' worth of Python less
    there as planning costs: ≈ 2 µs an alert)."""
    out = redact_ahead(batch)
    out.planned = (ctx, plan_batch(ctx, out))
    return out


def _masked(batch: Sequence[Alert], redactor: Redactor) -> Sequence[Alert]:
    if isinstance(batch, Redacted) and batch.redactor is redactor:
        return batch
    return redacted(batch, redactor)


def redacted(batch: Sequence[Alert], redactor: Redactor) -> Sequence[Alert]:
    """The alerts as they may be stored and shown: a secret in a label, an annotation or a
    URL (a token in a probe URL, a password in an error text) is masked like every other text
    opsroom keeps. The fingerprint is the sender's (or made from the raw labels), so dedup
    is unchanged. A batch's alerts repeat most of their texts (label names, the alertname,
    job, severity): each distinct text is asked once, and a batch whose texts are all clean —
    nearly every batch — is returned as it is."""
    if not _has_secret(batch, redactor):
        return batch
    out: list[Alert] | None = None
    for i, alert in enumerate(batch):
        labels = _redacted_map(alert.labels, redactor)
        annotations = _redacted_map(alert.annotations, redactor)
        generator_url, n1 = redactor.redact(alert.generator_url)
        external_url, n2 = redactor.redact(alert.external_url)
        if labels is None and annotations is None and not (n1 or n2):
            if out is not None:
                out.append(alert)
            continue
        if out is None:
            out = list(batch[:i])
        out.append(
            replace(
                alert,
                labels=alert.labels if labels is None else labels,
                annotations=alert.annotations if annotations is None else annotations,
                generator_url=generator_url,
                external_url=external_url,
            )
        )
    return batch if out is None else out


def _has_secret(batch: Sequence[Alert], redactor: Redactor) -> bool:
    """Whether any label or annotation (name or value) or URL of the batch has something to
    mask. Names and URLs recur from batch to batch: each is asked on its own, so the
    redactor remembers it as clean. Values (an instance, a summary) are mostly new: the
    batch's distinct values are asked once, joined (``Redactor.all_clean``: one search of the
    credential shapes' fixed pieces instead of a call per text); only when that cannot say
    are they asked one by one."""
    names: set[str] = set()
    values: set[str] = set()
    for alert in batch:
        names.update(alert.labels)
        values.update(alert.labels.values())
        names.update(alert.annotations)
        values.update(alert.annotations.values())
        names.add(alert.generator_url)
        names.add(alert.external_url)
    redact = redactor.redact
    if any(redact(text)[1] for text in names):
        return True
    return not redactor.all_clean(values) and any(redact(text)[1] for text in values)


def _redacted_map(mapping: Mapping[str, str], redactor: Redactor) -> dict[str, str] | None:
    """``mapping`` with secrets masked in its keys and values, or None when it has none."""
    changed: dict[str, str] | None = None
    for key, value in mapping.items():
        clean_key, n_key = redactor.redact(key)
        clean_value, n_value = redactor.redact(value)
        if n_key or n_value:
            if changed is None:
                changed = dict(mapping)
            del changed[key]
            changed[clean_key] = clean_value
    return changed


def _store(
    ctx: AlertContext,
    conn: Connection,
    source: str,
    batch: Sequence[Alert],
    now: dt.datetime,
    kept: dict[str, Any] | None = None,
) -> IngestResult:
    """One payload. ``kept``: open groups' rows as this connection holds them
    (``open_groups.OpenGroups.take``), used instead of reading them and updated after."""
    result = IngestResult(accepted=len(batch))
    planned = getattr(batch, "planned", None)  # planned on the parse thread (``prepare``)
    plans = planned[1] if planned is not None and planned[0] is ctx else plan_batch(ctx, batch)
    if not plans:
        return result
    window, fcfg, timers = ctx.config.flapping.window, ctx.config.flapping, ctx.config.grouping
    ts = now.timestamp()
    fired = [ts]  # one list for every new firing alert: its JSON text is made once (batch.many)
    mutes = ctx.active_mutes(conn, now)
    keys = list(plans)
    groups: dict[str, Any] = {} if kept is None else {k: kept[k] for k in keys if k in kept}
    if groups:
        keys = [k for k in keys if k not in groups]
    for part in chunks(keys):
        for row in rows_where_in(conn, (alert_groups.c.open_key, *GROUP_COLUMNS), alert_groups.c.open_key, part):
            groups[row.open_key] = row
    reopened = _reopen_recent(ctx, conn, plans, groups, now)
    new_rows = []
    for key, plan in plans.items():
        if key in groups or not any(a.status == "firing" for a in plan.alerts.values()):
            continue
        first = max(plan.alerts.values(), key=lambda a: -severity_rank(a.severity))
        place = ctx.place_for(plan.channel_name)
        new_rows.append(
            {
                "open_key": key,
                "group_key": key,
                "route": plan.route.name,
                "platform": place.platform,
                "channel": place.channel,
                "channel_name": plan.channel_name,
                "labels": dict(plan.labels),  # the plan's is shared with later batches (planning)
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
        returning = insert(alert_groups).returning(alert_groups.c.open_key, *GROUP_COLUMNS)
        inserted = conn.execute(returning, new_rows).all()
        for row in inserted:
            groups[row.open_key] = row
    result.groups = len(new_rows)
    gid_of = {key: groups[key].id for key in plans if key in groups}
    pairs = [(gid_of[key], fp) for key, plan in plans.items() if key in gid_of for fp in plan.alerts]
    existing = _existing(conn, pairs)
    inserts, changes, touches, events = [], [], [], []
    changed_groups: set[int] = set()
    known_firing: set[int] = set()  # groups this batch leaves with a firing alert
    new = muted_count = 0  # counted in locals: an attribute update per alert costs more
    for key, plan in plans.items():
        gid = gid_of.get(key)
        if gid is None:
            result.ignored += len(plan.alerts)  # resolved alerts of a group we never saw
            continue
        channel_name = plan.channel_name
        for fp, alert in plan.alerts.items():
            muted = any(matches(m, alert.labels) for _, m, _ in mutes) if mutes else False
            firing = alert.status == "firing"
            if firing:
                known_firing.add(gid)
            muted_count += muted
            old = existing.get((gid, fp))
            if old is None:
                new += 1
                # ``Alert.alertname``, ``Alert.severity`` and ``_plain`` written out: four
                # Python calls an alert less on the alert thread, the same values.
                labels, annotations = alert.labels, alert.annotations
                name = (labels.get("alertname") or alert.alertname)[:200]
                inserts.append(
                    (
                        gid,
                        fp,
                        name,
                        (labels.get("severity") or "none").lower()[:50],
                        alert.status,
                        None,
                        labels if labels.__class__ is dict else dict(labels),
                        annotations if annotations.__class__ is dict else dict(annotations),
                        alert.starts_at,
                        alert.ends_at,
                        alert.generator_url,
                        now,
                        now,
                        fired if firing else [],
                        False,
                        muted,
                    )
                )
                if firing:
                    events.append((now, gid, channel_name, name, fp, "firing"))
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
                        "_annotations": _plain(alert.annotations),
                        "_starts": alert.starts_at,
                        "_ends": alert.ends_at,
                        "_seen": now,
                    }
                )
                events.append(_event(now, gid, plan.channel_name, alert))
                # A flapping alert changes its group once (to show it flapping), then is held.
                # A muted (silenced) alert still changes its group's status: silenced and
                # then resolved must show RESOLVED; change_lines keeps it out of the thread.
                if not (flaps and old.flapping):
                    changed_groups.add(gid)
            else:
                touches.append({"_id": old.id, "_muted": muted, "_ends": alert.ends_at, "_seen": now})
                if bool(old.muted) != muted and not muted and alert.status == "firing":
                    changed_groups.add(gid)  # its mute ran out: show it again
    result.new += new
    result.muted += muted_count
    many_rows(conn, _INSERT_ALERT, _ALERT_KEYS, inserts)
    many(conn, _CHANGE_ALERT, changes)
    many(conn, _TOUCH_ALERT, touches)
    many_rows(conn, _INSERT_EVENT, _EVENT_KEYS, events)
    marked: dict[Any, list[int]] = {}
    if changed_groups:
        fresh = {row.id: row for key, row in groups.items() if key not in reopened}
        marked = mark_changed(ctx, conn, sorted(changed_groups), now, known_firing=known_firing, known=fresh)
    if kept is not None:
        open_groups.remember(kept, groups, reopened, marked)
    ctx.audit(
        conn,
        actor=f"source:{source}",
        action="alert.intake",
        summary=f"{result.accepted} alert(s) from {source}: {result.new} new, "
        f"{result.changed} changed, {result.groups} new group(s)",
        detail=result.as_dict(),
    )
    return result


_EXISTING_COLUMNS = ("id", "group_id", "fingerprint", "status", "changes", "flapping", "muted")


class _Stored(NamedTuple):
    id: int
    group_id: int
    fingerprint: str
    status: str
    changes: list[float] | None
    flapping: bool
    muted: bool


def _existing(conn: Connection, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], _Stored]:
    """The stored alerts of exactly these (group, fingerprint) pairs, each found through the
    unique index: the cost does not grow with the size of the groups (``group_id IN (…) AND
    fingerprint IN (…)`` read whole groups on SQLite)."""
    found: dict[tuple[int, str], _Stored] = {}
    columns = ", ".join(f"a.{c}" for c in _EXISTING_COLUMNS)
    for part in chunks(pairs, CHUNK // 2):
        if conn.dialect.name == "sqlite":
            # SQLite plans a row-value IN (VALUES …) as a scan; a join with the VALUES
            # searches the index once per pair.
            sql = (
                f"SELECT {columns} FROM (SELECT column1 AS g, column2 AS f FROM (VALUES "  # noqa: S608 (no values in it)
                + ", ".join(["(?, ?)"] * len(part))
                + ")) AS w JOIN alerts AS a ON a.group_id = w.g AND a.fingerprint = w.f"
            )
            for r in driver_execute(conn, sql, [v for pair in part for v in pair]):
                changes = json.loads(r[4]) if r[4] is not None else None
                row = _Stored(r[0], r[1], r[2], r[3], changes, bool(r[5]), bool(r[6]))
                found[(row.group_id, row.fingerprint)] = row
        else:
            query = select(*(alerts.c[c] for c in _EXISTING_COLUMNS)).where(
                tuple_(alerts.c.group_id, alerts.c.fingerprint).in_(part)
            )
            for r in conn.execute(query):
                found[(r.group_id, r.fingerprint)] = _Stored(*r)
    return found


def _reopen_recent(
    ctx: AlertContext, conn: Connection, plans: Mapping[str, Plan], groups: dict[str, Any], now: dt.datetime
) -> set[str]:
    """A group that fires again within ``flapping.window`` of its resolution is reopened:
    its message is edited back to firing (with "firing again" in its thread) instead of
    a new post, and its alerts keep their change history, so flapping is caught. Returns
    the keys of the groups it reopened."""
    missing = [k for k, p in plans.items() if k not in groups and any(a.status == "firing" for a in p.alerts.values())]
    if not missing:
        return set()
    since = now - dt.timedelta(seconds=ctx.config.flapping.window)
    latest: dict[str, Any] = {}
    for part in chunks(missing):
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
    return set(latest)


def _plain(mapping: Mapping[str, str]) -> dict[str, str]:
    """A label or annotation map as a dict, copied only when it is not one (parsers hand over
    fresh dicts that nothing else holds)."""
    return mapping if mapping.__class__ is dict else dict(mapping)


def _event(now: dt.datetime, gid: int, channel: str, alert: Alert) -> tuple[Any, ...]:
    """An event row: the values of ``_EVENT_KEYS``."""
    return (now, gid, channel, alert.alertname[:200], alert.fingerprint, alert.status)
