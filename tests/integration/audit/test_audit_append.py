"""Appending: ids, transactions, several writers, awkward content. Both backends."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from opsroom.audit import ZERO_HASH, AuditLog, AuditRecord
from opsroom.store import Database
from opsroom.store.tables import audit_log, locks


def test_append_returns_consecutive_ids_and_reads_back(db: Database) -> None:
    log = AuditLog(db)
    ts = datetime(2026, 11, 3, 9, 15, 0, 123456, tzinfo=UTC)
    with db.begin() as conn:
        first = log.append(
            conn,
            actor="alice",
            action="received",
            command="rollback",
            platform="slack",
            channel="#ops",
            run_id=42,
            summary="/rollback api v1.2",
            ts=ts,
            detail={"args": {"service": "api", "version": "v1.2"}},
        )
        more = log.append_many(
            conn,
            [
                AuditRecord("alice", "decision", "rollback", run_id=42),
                AuditRecord("alice", "run.started", "rollback", run_id=42),
            ],
        )
    assert (first, more) == (1, [2, 3])
    entries = log.for_run(42)
    assert [e.action for e in entries] == ["received", "decision", "run.started"]
    e = entries[0]
    assert e.ts == ts and e.ts.tzinfo is UTC
    assert (e.actor, e.command, e.platform, e.channel, e.summary) == (
        "alice",
        "rollback",
        "slack",
        "#ops",
        "/rollback api v1.2",
    )
    assert e.detail == {"args": {"service": "api", "version": "v1.2"}}
    assert e.prev_hash == ZERO_HASH and entries[1].prev_hash == e.hash
    assert log.verify().ok


def test_entry_commits_or_vanishes_with_the_state_change(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(conn, actor="alice", action="received")
    with pytest.raises(RuntimeError), db.begin() as conn:
        conn.execute(insert(locks).values(key="deploy:api", holder="alice", since=datetime.now(UTC)))
        log.append(conn, actor="alice", action="lock.taken")
        raise RuntimeError("the runner blew up")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(locks)).scalar() == 0
    # The rolled-back row left no hole: the next entry takes its id and links to row 1.
    with db.begin() as conn:
        assert log.append(conn, actor="alice", action="retry") == 2
    report = log.verify()
    assert report.ok and report.rows_checked == 2


def test_rollback_to_savepoint_keeps_the_chain(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(conn, actor="a", action="one")
        try:
            with conn.begin_nested():
                log.append(conn, actor="a", action="two (rolled back)")
                raise ValueError
        except ValueError:
            pass
        assert log.append(conn, actor="a", action="three") == 2
    assert [e.action for e in log.search("")] == ["three", "one"]
    assert log.verify().ok


def test_two_writers_with_their_own_cache_never_fork_the_chain(db: Database) -> None:
    """Like two processes on one database: each AuditLog's remembered tail goes stale."""
    a, b = AuditLog(db), AuditLog(db)
    ids = []
    for i in range(6):
        writer = a if i % 3 else b
        with db.begin() as conn:
            ids.append(writer.append(conn, actor=f"w{i}", action="step"))
    assert ids == [1, 2, 3, 4, 5, 6]
    assert a.verify().ok


def test_concurrent_appends_from_threads_leave_a_valid_chain(db: Database) -> None:
    """Two threads, two AuditLogs (as two processes would have), each append its own
    transaction: on PostgreSQL the advisory lock serialises them, on SQLite BEGIN IMMEDIATE."""
    per_thread = 60
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        log = AuditLog(db)
        try:
            start.wait()
            for i in range(per_thread):
                with db.begin() as conn:
                    if i % 3 == 0:
                        log.append_many(conn, [AuditRecord(name, "a"), AuditRecord(name, "b")])
                    else:
                        log.append(conn, actor=name, action="c", detail={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    report = AuditLog(db).verify()
    expected = 2 * (per_thread + per_thread // 3)
    assert report.ok, report.text()
    assert report.rows_checked == expected and report.head_id == expected


def test_second_writer_waits_for_the_first_transaction(db: Database) -> None:
    """Writer A has appended but not committed; writer B's append must wait and then
    chain after A's row, not take the same id (the fork the lock prevents)."""
    a_appended, b_done = threading.Event(), threading.Event()
    b_result: list[int] = []

    def writer_b() -> None:
        a_appended.wait(10)
        with db.begin() as conn:
            b_result.append(AuditLog(db).append(conn, actor="b", action="second"))
        b_done.set()

    t = threading.Thread(target=writer_b)
    t.start()
    with db.begin() as conn:
        assert AuditLog(db).append(conn, actor="a", action="first") == 1
        a_appended.set()
        time.sleep(0.3)
        assert not b_done.is_set(), "B appended while A's transaction was still open"
    t.join(15)
    assert b_result == [2]
    assert AuditLog(db).verify().ok


def test_unicode_and_large_detail_round_trip(db: Database) -> None:
    log = AuditLog(db)
    big = "x" * 1_000_000
    detail = {
        "emoji": "deploy 🚀 done ✅",
        "cjk": "回滚完成",
        "rtl": "שלום",
        "combining": "e\u0301",
        "nul": "a\x00b",
        "lone": "\ud800",
        "quote": 'say "hi"\\',
        "big": big,
        "list": list(range(1000)),
        "float": 0.1,
        "neg0": -0.0,
        "huge": 2**62,
        "when": datetime(2026, 1, 1),
    }
    with db.begin() as conn:
        log.append(conn, actor="ünïcødé", action="run.output", summary="Größe: 1 MB — ok ✓", detail=detail)
    [e] = log.search("")
    assert e.actor == "ünïcødé" and e.summary == "Größe: 1 MB — ok ✓"
    assert e.detail["big"] == big and e.detail["emoji"] == "deploy 🚀 done ✅"
    assert e.detail["nul"] == "a\x00b" and e.detail["lone"] == "\ufffd"
    assert e.detail["when"] == "2026-01-01 00:00:00" and e.detail["huge"] == 2**62
    assert log.verify().ok
    assert [x.id for x in log.search("回滚完成")] == [1]
    assert [x.id for x in log.search("🚀")] == [1]


def test_values_too_long_for_their_column_are_cut_not_refused(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(
            conn,
            actor="u" * 300,
            action="received",
            command="x" * 5000,
            channel="#" + "c" * 500,
            platform="p" * 80,
            summary="s" * 100_000,
        )
    [e] = log.search("")
    assert (len(e.actor), len(e.command), len(e.channel), len(e.platform), len(e.summary)) == (
        200,
        100,
        200,
        50,
        100_000,
    )
    assert log.verify().ok


def test_timestamps_from_any_zone_are_stored_in_utc_to_the_microsecond(db: Database) -> None:
    log = AuditLog(db)
    tokyo = timezone(timedelta(hours=9))
    with db.begin() as conn:
        log.append(conn, actor="a", action="x", ts=datetime(2026, 11, 5, 9, 0, 0, 1, tzinfo=tokyo))
    [e] = log.search("")
    assert e.ts == datetime(2026, 11, 5, 0, 0, 0, 1, tzinfo=UTC)
    assert e.ts.utcoffset() == timedelta(0)
    assert log.verify().ok


def test_empty_append_many_writes_nothing(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        assert log.append_many(conn, []) == []
    assert log.head() == (0, ZERO_HASH)


def test_stored_detail_is_the_hashed_json(db: Database) -> None:
    """The JSON column holds exactly the canonical text, so any JSON tool sees the same data."""
    log = AuditLog(db)
    with db.begin() as conn:
        log.append(conn, actor="a", action="x", detail={"b": 2, "a": "é"})
    with db.read() as conn:
        detail = conn.execute(select(audit_log.c.detail)).scalar_one()
    assert detail == {"a": "é", "b": 2}
    assert json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == '{"a":"é","b":2}'


def test_a_secret_anywhere_in_a_batch_is_masked_in_its_row_and_the_others_kept(db: Database) -> None:
    # Rows are looked at together first (nearly always nothing to mask); a batch with a
    # secret in one row, even deep in its detail, still gets that row masked.
    from opsroom.policy.redaction import Redactor

    token = "ghp_" + "a1B2c3D4e5" * 4
    log = AuditLog(db, redactor=Redactor(secret_values=["hunter2-prod-password"]))
    with db.begin() as conn:
        log.append_many(
            conn,
            [
                AuditRecord("alice", "command.received", "deploy", run_id=7, summary="deploy api", detail={"n": 1}),
                AuditRecord(
                    "alice", "decision", "deploy", run_id=7, summary="allowed", detail={"steps": [("x", [token])]}
                ),
                AuditRecord("alice", "note", "deploy", run_id=7, summary="pw hunter2-prod-password", detail=None),
                AuditRecord("alice", "run.started", "deploy", run_id=7, summary="run #7 started"),
            ],
        )
    entries = log.for_run(7)
    assert [e.summary for e in entries] == ["deploy api", "allowed", "pw [REDACTED]", "run #7 started"]
    assert entries[0].detail == {"n": 1}
    stored = json.dumps(entries[1].detail)
    assert token not in stored and "[REDACTED]" in stored
    assert log.verify().ok
