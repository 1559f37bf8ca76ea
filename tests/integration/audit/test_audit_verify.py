"""Tampering with raw SQL, on both backends; verify must name the row and what happened."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from opsroom.audit import AuditLog, AuditRecord, verify_lines
from opsroom.store import Database
from opsroom.store.tables import audit_log

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def log(db: Database) -> AuditLog:
    """Eight rows: a rollback command's steps, then a deploy's."""
    log = AuditLog(db)
    steps = ["received", "parsed", "decision", "run.started", "run.finished", "received", "decision", "run.started"]
    with db.begin() as conn:
        log.append_many(
            conn,
            [
                AuditRecord(
                    "alice",
                    action,
                    "rollback" if i < 5 else "deploy",
                    "slack",
                    "#ops",
                    40 + i // 5,
                    f"step {i + 1}",
                    {"rule_ids": ["ops-may-rollback"], "n": i + 1},
                    T0 + timedelta(minutes=i),
                )
                for i, action in enumerate(steps)
            ],
        )
    assert log.verify().ok
    return log


def sql(db: Database, statement: str, **params: object) -> None:
    with db.begin() as conn:
        conn.execute(text(statement), params)


def findings(log: AuditLog) -> list[tuple[int, str]]:
    return [(p.id, p.what) for p in log.verify().problems]


def test_intact_chain_reports_ok_with_its_head(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok and report.rows_checked == 8 and report.last_good_id == 8
    assert (report.head_id, report.head_hash) == log.head()
    assert "audit chain OK: 8 rows" in report.text()


def test_edited_summary_is_named(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET summary = 'nothing to see' WHERE id = 3")
    report = log.verify()
    assert not report.ok
    assert findings(log) == [(3, "altered")]
    assert report.last_good_id == 2
    assert "row 3: altered" in report.text()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "mallory"),
        ("action", "noop"),
        ("command", "status"),
        ("platform", "web"),
        ("channel", "#random"),
        ("hash", "f" * 64),
    ],
)
def test_any_edited_column_is_named(db: Database, log: AuditLog, column: str, value: str) -> None:
    sql(db, f"UPDATE audit_log SET {column} = :v WHERE id = 5", v=value)
    assert findings(log) == [(5, "altered")]


def test_edited_run_id_and_time_are_named(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET run_id = 99 WHERE id = 2")
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 6).values(ts=T0 + timedelta(days=1)))
    assert findings(log) == [(2, "altered"), (6, "altered")]


def test_edited_detail_is_named(db: Database, log: AuditLog) -> None:
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 4).values(detail={"rule_ids": ["break-glass"], "n": 4}))
    assert findings(log) == [(4, "altered")]


def test_detail_rewritten_with_the_same_meaning_is_not_a_finding(db: Database, log: AuditLog) -> None:
    """Key order and spacing are not content: a JSON tool re-saving the row is harmless."""
    with db.begin() as conn:
        conn.execute(
            update(audit_log).where(audit_log.c.id == 4).values(detail={"n": 4, "rule_ids": ["ops-may-rollback"]})
        )
    assert log.verify().ok


def test_deleted_row_is_named_as_missing(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_log WHERE id = 4")
    report = log.verify()
    assert findings(log) == [(4, "missing")]
    assert "row 4 missing" in report.problems[0].detail
    assert report.last_good_id == 3


def test_deleted_range_and_first_row(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_log WHERE id IN (1, 5, 6, 7)")
    report = log.verify()
    assert findings(log) == [(1, "missing"), (5, "missing")]
    assert "rows 5–7 missing (3 rows)" in report.problems[1].detail
    assert report.last_good_id == 0


def test_swapped_rows_are_named_as_reordered(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET id = -1 WHERE id = 3")
    sql(db, "UPDATE audit_log SET id = 3 WHERE id = 6")
    sql(db, "UPDATE audit_log SET id = 6 WHERE id = -1")
    report = log.verify()
    assert findings(log) == [(3, "reordered"), (6, "reordered")]
    assert report.problems[0].detail == "row 3 holds the entry written as row 6"
    assert report.problems[1].detail == "row 6 holds the entry written as row 3"
    assert report.last_good_id == 2


def test_swapped_neighbours_are_named_as_reordered(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET id = -1 WHERE id = 7")
    sql(db, "UPDATE audit_log SET id = 7 WHERE id = 8")
    sql(db, "UPDATE audit_log SET id = 8 WHERE id = -1")
    assert findings(log) == [(7, "reordered"), (8, "reordered")]


def test_edited_link_is_named_as_bad_link(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET prev_hash = :h WHERE id = 5", h="a" * 64)
    report = log.verify()
    assert findings(log) == [(5, "bad link")]
    assert "prev_hash was edited" in report.problems[0].detail
    assert report.last_good_id == 4


def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(db: Database, log: AuditLog) -> None:
    """A careful forger fixes row 3's hash; row 4 still points at the original row 3."""
    [row3] = [e for e in log.search("", limit=100) if e.id == 3]
    forged_summary = "allowed by break-glass"
    from opsroom.audit.chain import canonical_detail, entry_hash, ts_text

    forged_hash = entry_hash(
        3,
        ts_text(row3.ts),
        row3.actor,
        row3.action,
        row3.command,
        row3.platform,
        row3.channel,
        row3.run_id,
        forged_summary,
        canonical_detail(row3.detail),
        row3.prev_hash,
    )
    sql(db, "UPDATE audit_log SET summary = :s, hash = :h WHERE id = 3", s=forged_summary, h=forged_hash)
    report = log.verify()
    assert findings(log) == [(4, "bad link")]
    assert "row 3 was rewritten" in report.problems[0].detail
    assert report.last_good_id == 2


def test_progress_is_reported(log: AuditLog) -> None:
    seen: list[tuple[int, int]] = []
    log.verify(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (8, 8)


def test_empty_log_verifies(db: Database) -> None:
    report = AuditLog(db).verify()
    assert report.ok and report.rows_checked == 0 and report.last_good_id == 0


def test_several_kinds_of_tampering_are_all_reported(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_log SET summary = 'x' WHERE id = 2")
    sql(db, "DELETE FROM audit_log WHERE id = 5")
    sql(db, "UPDATE audit_log SET prev_hash = :h WHERE id = 8", h="b" * 64)
    assert findings(log) == [(2, "altered"), (5, "missing"), (8, "bad link")]


def test_exported_file_can_be_checked_alone(db: Database, log: AuditLog) -> None:
    buf = io.StringIO()
    assert log.export(buf) == 8
    buf.seek(0)
    assert verify_lines(buf).ok
    lines = buf.getvalue().splitlines()
    tampered = json.loads(lines[2])
    tampered["summary"] = "edited in the file"
    lines[2] = json.dumps(tampered)
    del lines[5]
    report = verify_lines(io.StringIO("\n".join(lines) + "\n"))
    assert [(p.id, p.what) for p in report.problems] == [(3, "altered"), (6, "missing")]
