"""Intake's driver-level reads and writes store and return exactly what SQLAlchemy's own
statements do (same bytes in the table, same values back), on both backends."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsroom.alerts.batch import many, many_rows, rows_where_in
from opsroom.alerts.group_state import GROUP_COLUMNS
from opsroom.alerts.ingest import _ALERT_KEYS, _TOUCH_ALERT
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.store import Database
from opsroom.store.db import DriverStatement

UTC = dt.UTC


def _groups(rng: random.Random, n: int) -> list[dict[str, object]]:
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        at = base + dt.timedelta(seconds=rng.randint(0, 10**6), microseconds=rng.randint(0, 999_999))
        out.append(
            {
                "open_key": f"key-{i}",
                "group_key": f"key-{i}",
                "route": "default",
                "platform": "web",
                "channel": "ops",
                "channel_name": "#ops",
                "labels": {"alertname": f"A{i}", "ünïcode": "é\u2028"},
                "source": "am",
                "source_type": "alertmanager",
                "status": rng.choice(["firing", "resolved"]),
                "flapping": rng.random() < 0.5,
                "delivery": rng.choice(["pending", "live", "digest"]),
                "created_at": at,
                "updated_at": at,
                "next_due_at": None if i % 3 == 0 else at.astimezone(dt.timezone(dt.timedelta(hours=5))),
                "last_notified_at": None if i % 2 else at + dt.timedelta(minutes=1),
                "external_url": "",
                "title": f"title {i}",
                "severity": "warning",
                "version": i,
                "dirty": bool(i % 2),
                "escalation": "",
                "escalation_pos": 0,
            }
        )
    return out


def test_driver_writes_store_what_sqlalchemy_stores(db: Database) -> None:
    rows = _groups(random.Random(5), 40)
    twins = [dict(r, open_key=f"x-{r['open_key']}", group_key=f"x-{r['group_key']}") for r in rows]
    with db.begin() as conn:
        conn.execute(insert(alert_groups), rows)
        many(conn, DriverStatement(insert(alert_groups)), twins)
    with db.read() as conn:
        stored = {r.open_key: r._mapping for r in conn.execute(select(alert_groups))}
    same = [c.name for c in alert_groups.c if c.name not in ("id", "open_key", "group_key")]
    for r in rows:
        mine, theirs = stored[f"x-{r['open_key']}"], stored[r["open_key"]]
        assert {c: mine[c] for c in same} == {c: theirs[c] for c in same}
    with db.read() as conn:  # and the very text stored (SQLite keeps datetimes and JSON as text)
        raw = {
            r[0]: r[1:]
            for r in conn.exec_driver_sql(
                "SELECT open_key, created_at, next_due_at, last_notified_at, labels, flapping FROM alert_groups"
            )
        }
    for r in rows:
        assert raw[f"x-{r['open_key']}"] == raw[r["open_key"]]


def test_rows_where_in_reads_what_a_select_reads(db: Database) -> None:
    rng = random.Random(9)
    rows = _groups(rng, 60)
    with db.begin() as conn:
        conn.execute(insert(alert_groups), rows)
    keys = [f"key-{i}" for i in rng.sample(range(80), 30)]  # some match nothing
    columns = (alert_groups.c.open_key, *GROUP_COLUMNS)
    with db.read() as conn:
        expected = sorted(tuple(r) for r in conn.execute(select(*columns).where(alert_groups.c.open_key.in_(keys))))
        got = rows_where_in(conn, columns, alert_groups.c.open_key, keys)
        assert sorted(tuple(r) for r in got) == expected
        assert {r.open_key for r in got} == {k for k in keys if int(k.split("-")[1]) < 60}
        assert rows_where_in(conn, columns, alert_groups.c.open_key, []) == []
        assert all(isinstance(r.flapping, bool) for r in got)
        assert all(r.created_at.tzinfo is not None for r in got)


def test_driver_inserts_of_alerts_match(db: Database) -> None:
    """JSON columns, timestamps and booleans of an alert row read back the same."""
    rng = random.Random(3)
    with db.begin() as conn:
        gid = conn.execute(insert(alert_groups).returning(alert_groups.c.id), _groups(rng, 1)).scalar_one()
        now = dt.datetime(2026, 3, 2, tzinfo=UTC)
        base = {
            "group_id": gid,
            "alertname": "A",
            "severity": "warning",
            "status": "firing",
            "labels": {"a": "b"},
            "annotations": {"summary": "s", "description": "ünïcode\u2028"},
            "generator_url": "http://prometheus/graph",
            "starts_at": now,
            "ends_at": None,
            "first_seen": now,
            "last_seen": now,
            "changes": [now.timestamp()],
            "flapping": False,
            "muted": False,
        }
        conn.execute(insert(alerts), [dict(base, fingerprint=f"f{i}") for i in range(5)])
        many(conn, DriverStatement(insert(alerts)), [dict(base, fingerprint=f"g{i}") for i in range(5)])
    with db.read() as conn:
        got = {r.fingerprint: r._mapping for r in conn.execute(select(alerts))}
    skip = {"id", "fingerprint"}
    for i in range(5):
        assert {k: v for k, v in got[f"f{i}"].items() if k not in skip} == {
            k: v for k, v in got[f"g{i}"].items() if k not in skip
        }


def test_batches_of_any_size_store_every_row_as_sqlalchemy_does(db: Database) -> None:
    """``many`` stores every row once with the same stored text as SQLAlchemy's own
    executemany, whatever the count, with values repeated across rows (timestamps, NULLs,
    booleans, one change list object shared by many rows, as intake does) or not."""
    now = dt.datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=UTC)
    shared = [now.timestamp()]
    with db.begin() as conn:
        group = _groups(random.Random(4), 1)
        gid = conn.execute(insert(alert_groups).returning(alert_groups.c.id), group).scalar_one()
    for count in (1, 63, 64, 65, 100, 131):

        def row(prefix: str, i: int, count: int = count) -> dict[str, object]:
            return {
                "group_id": gid,
                "fingerprint": f"{prefix}{count}-{i}",
                "alertname": f"A{i % 7}",
                "severity": "warning",
                "status": "firing" if i % 3 else "resolved",
                "labels": {"alertname": f"A{i % 7}", "instance": f"h{i}:9100", "ü": "é\u2028"},
                "annotations": {"summary": f"s{i}"},
                "generator_url": "http://prometheus/graph",
                "starts_at": now - dt.timedelta(seconds=i % 4),
                "ends_at": None if i % 2 else now,
                "first_seen": now,
                "last_seen": now,
                "changes": shared if i % 3 else [],
                "flapping": bool(i % 5 == 0),
                "muted": bool(i % 2),
            }

        with db.begin() as conn:
            conn.execute(insert(alerts), [row("sa", i) for i in range(count)])
            many(conn, DriverStatement(insert(alerts)), [row("dr", i) for i in range(count)])
        columns = "alertname, severity, status, labels, annotations, starts_at, ends_at, first_seen, changes"
        columns += ", flapping, muted"
        mark = "?" if db.engine.dialect.name == "sqlite" else "%s"
        sql = f"SELECT fingerprint, {columns} FROM alerts WHERE fingerprint LIKE {mark}"  # noqa: S608 (no values in it)
        with db.read() as conn:
            theirs = {r[0][2:]: tuple(r[1:]) for r in conn.exec_driver_sql(sql, (f"sa{count}-%",))}
            mine = {r[0][2:]: tuple(r[1:]) for r in conn.exec_driver_sql(sql, (f"dr{count}-%",))}
        assert len(mine) == count
        assert mine == theirs


_AWKWARD = [
    'say "hi" \\ back\\slash',
    "ünïcode é 日本語 🚨 \u2028\u2029",
    "tab\there\nnewline\rcr\x01\x1f\x7f",
    "12345",  # a number as text stays text
    "1.5e3",
    "",
    "x" * 5000,
    "null",
    "{'not': 'json'}",
]


def test_tuple_rows_store_what_sqlalchemy_stores(db: Database) -> None:
    """``many_rows`` (intake's alert and event rows, built as tuples) stores every column
    exactly as SQLAlchemy's own insert of the same values does: quotes, backslashes, unicode,
    control characters, long text, numbers written as text, NULLs, booleans, timestamps."""
    now = dt.datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=UTC)
    with db.begin() as conn:
        gid = conn.execute(insert(alert_groups).returning(alert_groups.c.id), _groups(random.Random(6), 1)).scalar_one()
    keys = (
        "group_id", "fingerprint", "alertname", "severity", "status", "notified_status", "labels",
        "annotations", "starts_at", "ends_at", "generator_url", "first_seen", "last_seen", "changes",
        "flapping", "muted",
    )  # fmt: skip

    def row(prefix: str, i: int) -> tuple[object, ...]:
        text = _AWKWARD[i % len(_AWKWARD)]
        return (
            gid,
            f"{prefix}-{i}",
            text[:200],
            text[:50],
            "firing" if i % 3 else "resolved",
            None,
            {"alertname": text, text[:20] or "k": str(i), "n": "7"},
            {"summary": text, "description": _AWKWARD[(i + 1) % len(_AWKWARD)]},
            now - dt.timedelta(seconds=i),
            None if i % 2 else now,
            text,
            now,
            now,
            [now.timestamp(), 1.5] if i % 2 else [],
            bool(i % 5 == 0),
            bool(i % 2),
        )

    count = 2 * len(_AWKWARD) + 1
    with db.begin() as conn:
        conn.execute(insert(alerts), [dict(zip(keys, row("sa", i), strict=True)) for i in range(count)])
        # keys in another order than the table's columns: each value must land in its own column
        order = tuple(reversed(keys))
        flipped = [tuple(reversed(row("dr", i))) for i in range(count)]
        many_rows(conn, DriverStatement(insert(alerts)), order, flipped)
    mark = "?" if db.engine.dialect.name == "sqlite" else "%s"
    columns = ", ".join(k for k in keys if k not in ("group_id", "fingerprint"))
    sql = f"SELECT fingerprint, {columns} FROM alerts WHERE fingerprint LIKE {mark}"  # noqa: S608 (no values in it)
    with db.read() as conn:
        theirs = {r[0][3:]: tuple(r[1:]) for r in conn.exec_driver_sql(sql, ("sa-%",))}
        mine = {r[0][3:]: tuple(r[1:]) for r in conn.exec_driver_sql(sql, ("dr-%",))}
    assert len(mine) == count
    assert mine == theirs


def test_a_column_null_in_every_row_is_stored_null_and_refused_where_not_allowed(db: Database) -> None:
    """A column with no value in the whole batch (written as a NULL literal on SQLite, not
    bound) stores NULL in every row, in an UPDATE as in an INSERT, with texts holding "?"
    bound beside it; a NOT NULL column left empty is refused as SQLAlchemy refuses it."""
    now = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with db.begin() as conn:
        gid = conn.execute(insert(alert_groups).returning(alert_groups.c.id), _groups(random.Random(9), 1)).scalar_one()

    def row(i: int, fingerprint: str | None = None) -> tuple[object, ...]:
        return (
            gid, fingerprint or f"q{i}", "What?", "?", "firing", None, {"q": "?"}, {"s": "a ? b"},
            None, now, "http://x/?a=1", now, now, [], False, False,
        )  # fmt: skip

    with db.begin() as conn:
        many_rows(conn, DriverStatement(insert(alerts)), _ALERT_KEYS, [row(i) for i in range(4)])
        ids = [r.id for r in conn.execute(select(alerts.c.id).order_by(alerts.c.id))]
        many(conn, _TOUCH_ALERT, [{"_id": i, "_muted": True, "_ends": None, "_seen": now} for i in ids[:3]])
    with db.read() as conn:
        shown = (alerts.c.alertname, alerts.c.severity, alerts.c.labels, alerts.c.starts_at, alerts.c.ends_at)
        query = select(*shown, alerts.c.notified_status, alerts.c.muted).order_by(alerts.c.id)
        got = [tuple(r) for r in conn.execute(query)]
    assert got[:3] == [("What?", "?", {"q": "?"}, None, None, None, True)] * 3
    assert got[3] == ("What?", "?", {"q": "?"}, None, now, None, False)
    statement = DriverStatement(update(alerts).where(alerts.c.id == bindparam("_id")).values(alertname=bindparam("_n")))
    with pytest.raises(IntegrityError), db.begin() as conn:
        many(conn, statement, [{"_id": i, "_n": None} for i in ids])
    with db.read() as conn:
        assert conn.execute(select(func.count()).where(alerts.c.alertname == "What?")).scalar_one() == 4
