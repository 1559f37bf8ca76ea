"""Searching as a user would from chat, the CLI or the console. Both backends."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime

import pytest

from opsroom.audit import AuditLog, AuditRecord, parse_query
from opsroom.core import ParseError
from opsroom.store import Database

NOW = datetime(2026, 11, 5, 15, 30, tzinfo=UTC)  # a Thursday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def log(db: Database) -> AuditLog:
    log = AuditLog(db)
    rows = [
        # id 1..
        AuditRecord(
            "alice",
            "received",
            "rollback",
            "slack",
            "#ops",
            1,
            "/rollback api v1.2",
            {"args": {"service": "api"}},
            utc(2026, 11, 2, 23, 59, 59, 999999),
        ),  # Mon, last µs
        AuditRecord(
            "alice",
            "decision",
            "rollback",
            "slack",
            "#ops",
            1,
            "allowed",
            {"rule_ids": ["break-glass"]},
            utc(2026, 11, 3, 0, 0),
        ),  # Tue, first µs
        AuditRecord(
            "bob",
            "run.started",
            "deploy",
            "mattermost",
            "#deploys",
            2,
            "deploy web to staging",
            {"env": "staging"},
            utc(2026, 11, 4, 12, 0),
        ),  # Wed
        AuditRecord(
            "bob",
            "run.finished",
            "deploy",
            "mattermost",
            "#deploys",
            2,
            "disk full on web-3",
            {"exit_code": 1, "path": "C:\\temp"},
            utc(2026, 11, 5, 10, 0),
        ),  # Thu morning
        AuditRecord(
            "Carol", "approval", "rollback", "web", "ops", 1, "100% approved by carol_x", {}, utc(2026, 11, 5, 14, 0)
        ),  # Thu, 1.5 h before NOW
        AuditRecord(
            "dave", "received", "status", "web", "#ops", None, "1000 approved by carolXx", {}, utc(2026, 11, 5, 14, 30)
        ),
    ]
    with db.begin() as conn:
        log.append_many(conn, rows)
    return log


def ids(log: AuditLog, query: str, **kw: object) -> list[int]:
    return [e.id for e in log.search(query, now=NOW, **kw)]  # type: ignore[arg-type]


def test_newest_first_and_everything_for_an_empty_query(log: AuditLog) -> None:
    assert ids(log, "") == [6, 5, 4, 3, 2, 1]


def test_all_words_must_match_anywhere_case_insensitively(log: AuditLog) -> None:
    assert ids(log, "ROLLBACK") == [5, 2, 1]  # the command column counts as text
    assert ids(log, "rollback api") == [1]  # "api" only in row 1's summary and detail
    assert ids(log, "break-glass") == [2]  # a word from the detail
    assert ids(log, "staging") == [3]
    assert ids(log, '"disk full"') == [4]
    assert ids(log, "disk nothing") == []


def test_filters(log: AuditLog) -> None:
    assert ids(log, "user:alice") == [2, 1]
    assert ids(log, "user:carol") == [5]  # actor stored as "Carol"
    assert ids(log, "user:alice user:bob") == [4, 3, 2, 1]
    assert ids(log, "channel:#ops") == [6, 5, 2, 1]  # "#ops" and "ops" are the same channel
    assert ids(log, "channel:OPS") == [6, 5, 2, 1]
    assert ids(log, "command:deploy") == [4, 3]
    assert ids(log, "action:run") == [4, 3]  # the run.* family
    assert ids(log, "action:run.finished") == [4]
    assert ids(log, "run:1") == [5, 2, 1]
    assert ids(log, "platform:mattermost user:bob disk") == [4]


def test_since_last_tuesday_includes_all_of_that_day(log: AuditLog) -> None:
    assert ids(log, "since last tuesday") == [6, 5, 4, 3, 2]  # not Monday's last microsecond


def test_time_ranges(log: AuditLog) -> None:
    assert ids(log, "until yesterday") == [3, 2, 1]  # through the end of Wednesday
    assert ids(log, "before yesterday") == [2, 1]
    assert ids(log, "since 2h ago") == [6, 5]
    assert ids(log, "since 2026-11-04 until 2026-11-04") == [3]
    assert ids(log, "since yesterday rollback") == [5]
    assert ids(log, "since 2026-11-01 user:alice") == [2, 1]


def test_days_in_the_configured_timezone(db: Database, log: AuditLog) -> None:
    # In Tokyo (UTC+9) "today" (Nov 6 there) began at 15:00 UTC on Nov 5: after every row.
    assert [e.id for e in AuditLog(db, timezone="Asia/Tokyo").search("since today", now=NOW)] == []
    # In New York (UTC-5) "yesterday" is Nov 4 05:00 UTC .. Nov 5 05:00 UTC.
    ny = AuditLog(db, timezone="America/New_York")
    assert [e.id for e in ny.search("since yesterday until yesterday", now=NOW)] == [3]


def test_like_wildcards_typed_by_a_user_are_literal(log: AuditLog) -> None:
    assert ids(log, "100%") == [5]  # not "1000"
    assert ids(log, "carol_x") == [5]  # not "carolXx"
    assert ids(log, "%") == [5]
    assert ids(log, "_") == [5, 4, 2]  # carol_x, and the keys exit_code and rule_ids in detail


def test_backslashes_and_quotes_inside_detail(log: AuditLog) -> None:
    assert ids(log, '"C:\\temp"') == [4]


def test_pagination_with_before_id(db: Database) -> None:
    log = AuditLog(db)
    with db.begin() as conn:
        log.append_many(conn, [AuditRecord("alice", "step", summary=f"n{i}") for i in range(120)])
    page1 = ids(log, "", limit=50)
    page2 = ids(log, "", limit=50, before_id=page1[-1])
    page3 = ids(log, "", limit=50, before_id=page2[-1])
    assert page1 == list(range(120, 70, -1))
    assert page2 == list(range(70, 20, -1))
    assert page3 == list(range(20, 0, -1))
    assert ids(log, "", limit=50, before_id=1) == []


def test_parsed_query_objects_work_too(log: AuditLog) -> None:
    q = parse_query("user:bob", NOW)
    assert [e.id for e in log.search(q, limit=1)] == [4]


def test_bad_query_raises_parse_error_and_reads_nothing(log: AuditLog) -> None:
    with pytest.raises(ParseError, match="unknown filter 'owner:'"):
        log.search("owner:bob")


def test_injection_attempts_are_just_text(log: AuditLog) -> None:
    assert ids(log, "'; DROP TABLE audit_log; --") == []
    assert ids(log, '"\') OR 1=1 --"') == []
    assert ids(log, "") == [6, 5, 4, 3, 2, 1]


def test_export_round_trip_rehashes_from_the_file_alone(log: AuditLog) -> None:
    buf = io.StringIO()
    assert log.export(buf) == 6
    prev = "0" * 64
    lines = buf.getvalue().splitlines()
    assert len(lines) == 6
    for n, line in enumerate(lines, 1):
        e = json.loads(line)
        fields = [
            e["id"],
            e["ts"],
            e["actor"],
            e["action"],
            e["command"],
            e["platform"],
            e["channel"],
            e["run_id"],
            e["summary"],
            e["detail"],
            e["prev_hash"],
        ]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == e["hash"]
        assert e["id"] == n and e["prev_hash"] == prev
        prev = e["hash"]
    assert json.loads(lines[0])["ts"] == "2026-11-02T23:59:59.999999Z"
    assert prev == log.head()[1]


def test_filtered_export_is_oldest_first(log: AuditLog) -> None:
    buf = io.StringIO()
    assert log.export(buf, "user:bob") == 2
    assert [json.loads(x)["id"] for x in buf.getvalue().splitlines()] == [3, 4]
