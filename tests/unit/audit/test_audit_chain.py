"""The canonical form and hashing rule, checked against a plain re-implementation of the
documented rule (what an auditor with only Python's stdlib would write)."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest

from opsroom.audit.chain import (
    ZERO_HASH,
    AuditRecord,
    canonical_detail,
    entry_hash,
    prepare,
    ts_text,
)

NOW = datetime(2026, 11, 5, 15, 30, 0, 0, tzinfo=UTC)


def documented_hash(fields: list[object]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    "detail",
    [
        {},
        {"b": 1, "a": [1, 2.5, None, True], "nested": {"z": "é", "y": "😀"}},
        {"quote": 'he said "hi"', "backslash": "C:\\temp", "newline": "a\nb", "tab": "\t"},
    ],
)
def test_hash_is_sha256_of_the_documented_json_list(detail: dict[str, object]) -> None:
    text = ts_text(NOW)
    got = entry_hash(
        7, text, "alice", "decision", "rollback", "slack", "#ops", 42, "allowed ✓", canonical_detail(detail), ZERO_HASH
    )
    want = documented_hash(
        [7, text, "alice", "decision", "rollback", "slack", "#ops", 42, "allowed ✓", detail, ZERO_HASH]
    )
    assert got == want


def test_every_field_changes_the_hash() -> None:
    base = [3, ts_text(NOW), "alice", "decision", "rollback", "slack", "#ops", 42, "s", '{"a":1}', "f" * 64]
    seen = {entry_hash(*base)}  # type: ignore[arg-type]
    changes: list[object] = [
        4,
        ts_text(NOW + timedelta(microseconds=1)),
        "bob",
        "deny",
        "restart",
        "web",
        "#dev",
        43,
        "t",
        '{"a":2}',
        "e" * 64,
    ]
    for i, value in enumerate(changes):
        fields = list(base)
        fields[i] = value
        seen.add(entry_hash(*fields))  # type: ignore[arg-type]
    assert len(seen) == len(changes) + 1


def test_ts_text_is_utc_with_microseconds_always() -> None:
    assert ts_text(datetime(2026, 11, 5, 15, 30, tzinfo=UTC)) == "2026-11-05T15:30:00.000000Z"
    berlin = timezone(timedelta(hours=1))
    assert ts_text(datetime(2026, 11, 5, 16, 30, 0, 5, tzinfo=berlin)) == "2026-11-05T15:30:00.000005Z"
    assert ts_text(datetime(2026, 11, 5, 15, 30)) == "2026-11-05T15:30:00.000000Z"  # naive = UTC


@pytest.mark.parametrize(
    "detail",
    [
        {"when": datetime(2026, 1, 1, tzinfo=UTC), "ids": (1, 2), "tags": {"x"}},
        {1: "one", 2: "two"},
        {1: "int key", "a": "str key"},  # unsortable mixed keys
        {"ratio": float("nan"), "big": float("inf")},
        {"deep": [[[{"k": [1, {"v": None}]}]]]},
    ],
)
def test_detail_text_is_a_fixed_point_of_reading_it_back(detail: dict[object, object]) -> None:
    """What is stored must give the same canonical text when read back and re-encoded,
    otherwise verify would report an untouched row as altered."""
    text = canonical_detail(detail)  # type: ignore[arg-type]
    assert canonical_detail(json.loads(text)) == text


@pytest.mark.parametrize(
    "detail",
    [
        MappingProxyType({"b": 1, "a": {"z": "é"}}),
        OrderedDict([("z", 1), ("a", [1, 2])]),
        MappingProxyType({}),
    ],
)
def test_a_mapping_that_is_not_a_dict_is_stored_as_the_dict_it_reads_as(detail: Mapping[str, object]) -> None:
    """A plugin may hand a read-only mapping: it is stored as a JSON object (not as its
    ``str``), and reading it back gives the same text, so verify accepts the row."""
    text = canonical_detail(detail)
    assert json.loads(text) == dict(detail)
    assert canonical_detail(json.loads(text)) == text


def test_nan_becomes_text_not_an_error() -> None:
    assert json.loads(canonical_detail({"x": float("nan")})) == {"x": "nan"}


def test_prepare_cleans_what_a_database_would_refuse() -> None:
    rec = AuditRecord(
        actor="a\x00b",
        action="x" * 500,
        command="c" * 5000,
        platform="web",
        channel="#ops\ud800",
        summary="lone \udc00 surrogate",
        detail={"k\ud800": "v\x00"},
    )
    ts, text, actor, action, command, platform, channel, run_id, summary, detail = prepare(rec, NOW, ts_text(NOW))
    assert actor == "a\ufffdb"
    assert len(action) == 60 and len(command) == 100
    assert channel == "#ops\ufffd" and summary == "lone \ufffd surrogate"
    assert detail.encode("utf-8")  # storable
    assert json.loads(detail) == {"k\ufffd": "v\x00"}
    assert canonical_detail(json.loads(detail)) == detail


def test_prepare_uses_the_records_own_time_in_utc() -> None:
    own = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5)))
    ts, text, *_ = prepare(AuditRecord("a", "b", ts=own), NOW, ts_text(NOW))
    assert ts == own and ts.tzinfo is UTC
    assert text == "2026-01-02T08:04:05.000006Z"
