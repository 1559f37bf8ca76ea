"""The hashing hot path's shortcuts (audit/chain.py) give exactly the documented bytes.

``entry_hash`` writes the list's head itself and ``canonical_detail`` calls the C encoder
directly; ``prepare`` looks at a row's six texts at once. Each is checked here against the
plain rule an auditor would write with the stdlib, on the awkward values, and a chain
written by that plain rule (as older opsroom versions wrote it) still verifies and grows.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from opsroom.audit import AuditLog
from opsroom.audit.chain import (
    FIELD_LIMITS,
    ZERO_HASH,
    AuditRecord,
    canonical_detail,
    entry_hash,
    prepare,
    ts_text,
)
from opsroom.store import Database
from opsroom.store.tables import audit_log

NOW = datetime(2026, 12, 4, 16, 0, 0, 123456, tzinfo=UTC)
AWKWARD = [
    "",
    "plain",
    'quote " and backslash \\',
    "new\nline\ttab\r\x01\x1f\x7f",
    "\u2028\u2029 line separators",
    "é ✓ 中文 😀",
    "</script>",
]


def documented_text(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def documented_hash(fields: list[object]) -> str:
    return hashlib.sha256(documented_text(fields).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("text", AWKWARD)
@pytest.mark.parametrize("run_id", [None, 0, 42, 2**70])
def test_the_written_out_head_hashes_as_the_documented_list(text: str, run_id: int | None) -> None:
    detail = {"text": text}
    fields = [2**40 + 7, ts_text(NOW), text, "action", text, "web", text, run_id, text]
    got = entry_hash(*fields, canonical_detail(detail), "f" * 64)  # type: ignore[arg-type]
    assert got == documented_hash([*fields, detail, "f" * 64])


def test_a_head_of_other_types_still_hashes_as_the_documented_list() -> None:
    fields = [True, ts_text(NOW), "a", "b", "c", "d", "e", 1.5, "s"]  # not what prepare gives
    got = entry_hash(*fields, "{}", ZERO_HASH)  # type: ignore[arg-type]
    assert got == documented_hash([*fields, {}, ZERO_HASH])


@pytest.mark.parametrize(
    "detail",
    [
        {"b": 1, "a": 2, "A": 3, "é": 4, "😀": 5, "": 6},
        {"floats": [0.1, 1e-05, 1e22, -0.0, 3.0, 1.7976931348623157e308], "ints": [0, -1, 2**64, -(2**70)]},
        {"nested": {"z": [{"y": None, "x": True}], "t": (1, "two", False)}, "empty": {}, "none": None},
        {"when": NOW, "day": date(2026, 1, 2), "set": {1}, "obj": object.__name__},
        {"texts": AWKWARD},
    ],
)
def test_detail_text_is_the_documented_json(detail: dict[str, object]) -> None:
    assert canonical_detail(detail) == documented_text(detail)


@pytest.mark.parametrize(
    "ts",
    [
        NOW,
        NOW.replace(microsecond=0),  # isoformat alone would drop the digits
        NOW.replace(tzinfo=None),  # SQLite gives naive values back: taken as UTC
        NOW.replace(microsecond=0, tzinfo=None),
        NOW.astimezone(timezone(timedelta(hours=-7, minutes=-30))),
        NOW.astimezone(ZoneInfo("Europe/Paris")),
        NOW.replace(tzinfo=ZoneInfo("UTC")),  # a UTC that is not datetime.UTC
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_time_text_is_the_documented_utc_text(ts: datetime) -> None:
    """What is hashed and stored as ``ts``: the UTC time with six digits and a Z, written as
    ``to_utc`` and ``isoformat`` write it (the shortcut for UTC and naive values included)."""
    utc = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    assert ts_text(ts) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_prepare_keeps_plain_rows_and_cleans_the_others_field_by_field() -> None:
    plain = AuditRecord("alice", "decision", "deploy", "slack", "#ops", 3, "allowed", {"k": "v"})
    assert prepare(plain, NOW, ts_text(NOW))[2:9] == ("alice", "decision", "deploy", "slack", "#ops", 3, "allowed")
    # One field over its limit, one with a NUL, one not ASCII: only those change.
    rec = AuditRecord("a" * (FIELD_LIMITS["actor"] + 1), "act\x00ion", "deploy", "slack", "#opé", None, "ok")
    _, _, actor, action, command, platform, channel, _, summary, _ = prepare(rec, NOW, ts_text(NOW))
    assert (actor, action, command, platform, channel, summary) == (
        "a" * FIELD_LIMITS["actor"],
        "act\ufffdion",
        "deploy",
        "slack",
        "#opé",
        "ok",
    )


def test_a_chain_written_by_the_documented_rule_verifies_and_grows(db: Database) -> None:
    """Rows hashed as older versions hashed them (plain json.dumps) stay valid, and new rows
    link onto them."""
    prev = ZERO_HASH
    rows = []
    for i in range(1, 6):
        ts = ts_text(NOW)
        detail = {"n": i, "text": AWKWARD[i % len(AWKWARD)], "when": str(NOW)}
        summary = f"step {i} ✓"
        digest = documented_hash([i, ts, "alice", "run.started", "deploy", "web", "#ops", i, summary, detail, prev])
        rows.append(
            {
                "id": i,
                "ts": NOW,
                "actor": "alice",
                "action": "run.started",
                "command": "deploy",
                "platform": "web",
                "channel": "#ops",
                "run_id": i,
                "summary": summary,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    with db.begin() as conn:
        conn.execute(insert(audit_log), rows)
    audit = AuditLog(db)
    assert audit.verify().ok
    with db.begin() as conn:
        audit.append(conn, actor="bob", action="run.finished", summary="done", detail={"exit": 0})
    report = audit.verify()
    assert report.ok and audit.head()[0] == 6


def test_a_read_only_mapping_as_detail_is_stored_as_an_object_and_verifies(db: Database) -> None:
    """A plugin may hand a read-only mapping (``MappingProxyType``) as a record's detail: it
    is stored as the JSON object it reads as, so ``verify`` accepts the row (it was stored
    as the mapping's ``str``, and verify then reported the untouched row as altered)."""
    audit = AuditLog(db)
    records = [
        AuditRecord(actor="alice", action="deploy.checked", summary="ok", detail=MappingProxyType({"b": 1, "a": "é"})),
        AuditRecord(actor="alice", action="deploy.checked", summary="ok", detail=MappingProxyType({})),
    ]
    with db.begin() as conn:
        audit.append_many(conn, records)
    with db.read() as conn:
        stored = [row.detail for row in conn.execute(select(audit_log.c.detail).order_by(audit_log.c.id))]
    assert stored == [{"a": "é", "b": 1}, {}]
    assert audit.verify().ok


def test_time_text_is_isoformat_text_for_every_kind_of_value() -> None:
    """``ts_text`` writes the fields itself: the same text as ``isoformat`` of the UTC time,
    for years of one to four digits, zero and full microseconds, naive, UTC and other zones."""
    rng = random.Random(14)
    zones = [None, UTC, ZoneInfo("UTC"), timezone(timedelta(hours=5, minutes=45)), ZoneInfo("America/New_York")]
    stamps = [datetime(1, 1, 2, 0, 0, 0), datetime(999, 3, 4, 5, 6, 7, 8), datetime(9999, 12, 30, 23, 59, 59, 999999)]
    stamps += [
        datetime.fromtimestamp(rng.uniform(0, 4e9)).replace(microsecond=rng.choice([0, 1, rng.randrange(10**6)]))
        for _ in range(300)
    ]
    for ts in stamps:
        for tz in zones:
            value = ts.replace(tzinfo=tz)
            utc = value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)
            assert ts_text(value) == utc.isoformat("T", "microseconds")[:26] + "Z", value
