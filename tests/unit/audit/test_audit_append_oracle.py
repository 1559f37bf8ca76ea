"""``prepare_many`` + ``_link`` (audit/chain.py, audit/log.py) store the very bytes the code
before them stored: each row prepared alone (``prepare``) and hashed by ``entry_hash``.

That older code is kept below, verbatim, as the oracle. A varied set of records (unicode,
lone surrogates, NULs, over-long fields, nested and odd details, None run ids, long
summaries, secrets to redact, explicit times in other zones, rows sharing or not sharing
their actor/channel/command objects) is written through ``AuditLog.append_many`` into one
database and through the oracle into another; the rows must match byte for byte, and
``verify`` must pass on both and on a database written by both in turn.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import sqlite3
import types
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsroom.audit import AuditLog, AuditRecord
from opsroom.audit import log as log_module
from opsroom.audit.chain import (
    _DUMPS_DETAIL,
    _LIMITS,
    _SURROGATE,
    ZERO_HASH,
    _clean,
    canonical_detail,
    entry_hash,
    prepare,
    to_utc,
    ts_text,
)
from opsroom.policy.redaction import Redactor
from opsroom.store import Database, create_db_engine
from opsroom.store.db import driver_executemany

NOW = datetime(2026, 12, 5, 4, 0, 0, 654321, tzinfo=UTC)
SECRET = "hunter2-prod-password"


def old_prepare(rec: AuditRecord, now: datetime, now_text: str) -> tuple[Any, ...]:
    """audit/chain.py's ``prepare`` before prepare_many (commit 0c5dec0), verbatim."""
    if rec.ts is None:
        ts, text = now, now_text
    else:
        ts = to_utc(rec.ts)
        text = ts_text(ts)
    fields = actor, action, command, platform, channel, summary = (
        rec.actor,
        rec.action,
        rec.command,
        rec.platform,
        rec.channel,
        rec.summary,
    )
    try:
        joined: str | None = "".join(fields)
    except TypeError:
        joined = None
    if not (
        joined is not None
        and joined.isascii()
        and "\x00" not in joined
        and len(actor) <= _LIMITS[0]
        and len(action) <= _LIMITS[1]
        and len(command) <= _LIMITS[2]
        and len(platform) <= _LIMITS[3]
        and len(channel) <= _LIMITS[4]
    ):
        actor, action, command, platform, channel, summary = (
            _clean(v, n) for v, n in zip(fields, _LIMITS, strict=True)
        )
    detail_json = canonical_detail(rec.detail)
    if not detail_json.isascii() and _SURROGATE.search(detail_json):
        detail_json = _DUMPS_DETAIL(json.loads(_SURROGATE.sub("\ufffd", detail_json)))
    run_id = rec.run_id if rec.run_id is None or rec.run_id.__class__ is int else int(rec.run_id)
    return (ts, text, actor, action, command, platform, channel, run_id, summary, detail_json)


def old_link(rows: list[tuple[Any, ...]], tail: tuple[int, str]) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    """audit/log.py's ``_link`` (SQLite) before prepare_many, verbatim."""
    last_id, last_hash = tail
    out: list[tuple[Any, ...]] = []
    for _ts, text, actor, action, command, platform, channel, run_id, summary, detail in rows:
        last_id += 1
        digest = entry_hash(
            last_id, text, actor, action, command, platform, channel, run_id, summary, detail, last_hash
        )
        stored_ts = f"{text[:10]} {text[11:26]}"
        out.append(
            (last_id, stored_ts, actor, action, command, platform, channel, run_id, summary, detail, last_hash, digest)
        )
        last_hash = digest
    return out, (last_id, last_hash)


class Kind(IntEnum):
    SEVEN = 7


class Text(str):
    """A str subclass (stored and hashed as its text)."""


AWKWARD = [
    "plain",
    "",
    'quote " and backslash \\ /',
    "new\nline\ttab\r\x01\x1f\x7f\b\f",
    "\u2028\u2029 separators",
    "é ✓ 中文 😀 Bößé",
    "lone \ud800 surrogate \udfff",
    "nul \x00 inside",
    "</script>&<>",
    f"password={SECRET}",
    "key AKIAIOSFODNN7EXAMPLE here",
    "x" * 300,
]
KEYS = [text for text in AWKWARD if SECRET not in text and "AKIA" not in text]


def _detail(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(14 if depth < 2 else 9)
    if choice == 0:
        return None
    if choice == 1:
        return {}
    if choice == 2:
        return {"text": rng.choice(AWKWARD), "n": rng.choice([0, -1, 2**70, 1.5, 1e16, 1e-7, True, None])}
    if choice == 3:
        return {"b": 1, "a": [1, 2.5, None, "z"], "é": "ü", "\ud800k": "v"}
    if choice == 4:
        return {"when": NOW, "set": frozenset({1}), "nan": math.nan, "inf": -math.inf}
    if choice == 5:
        return {1: "int key", "2": "str key"}  # mixed key types: the plain-JSON fallback
    if choice == 6:  # (only nested: at the top a mapping that is not a dict is stored as its str()
        # by old and new code alike, and verify cannot read that row back: not for this test)
        proxy = types.MappingProxyType({"proxy": rng.choice(AWKWARD)})
        return {"inner": proxy} if depth == 0 else proxy
    if choice == 7:
        return {"tuple": ("a", rng.choice(AWKWARD)), "secret": SECRET}
    if choice == 8:
        return {"long": "y" * 5000, "k": rng.choice(AWKWARD)}
    key = rng.choice(KEYS)  # (Redactor.clean keeps keys: no secret in one)
    return {key: _detail(rng, depth + 1), "list": [_detail(rng, depth + 1), rng.choice(AWKWARD)]}


def _records(seed: int) -> list[list[AuditRecord]]:
    """Groups of one to five records, as append_many gets them."""
    rng = random.Random(seed)
    groups: list[list[AuditRecord]] = []
    choices = {
        "actor": ["alice", "Bößé 🚀", "a" * 250, "nul\x00", Text("sub"), "lone\udc80"],
        "command": ["deploy", "c" * 120, "", "中文"],
        "platform": ["slack", "", "p" * 60],
        "channel": ["#ops", "ch\u2028", "", "z" * 210],
    }
    for _ in range(150):
        base = {key: rng.choice(values) for key, values in choices.items()}
        group = []
        for k in range(rng.randrange(1, 6)):
            if rng.random() < 0.3:  # the same values, but other objects
                base = {key: (value + "!")[:-1] if value.__class__ is str else value for key, value in base.items()}
            if rng.random() < 0.4:  # one of the shared fields differs from the row before
                key = rng.choice(list(choices))
                base = {**base, key: rng.choice(choices[key])}
            ts = rng.choice(
                [
                    None,
                    None,
                    NOW - timedelta(days=3, microseconds=7),
                    datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
                    datetime(2026, 1, 1, 12, 0, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
                    datetime(2026, 6, 1, 0, 0, 0),  # naive: taken as UTC
                ]
            )
            group.append(
                AuditRecord(
                    action=rng.choice(["command.received", "decision", "run.started", "a" * 70, "act\x00", "é"]),
                    summary=rng.choice([*AWKWARD, f"run #{k} started", "s" * 20000]),
                    detail=_detail(rng),
                    run_id=rng.choice([None, 0, 42, 2**62, True, Kind.SEVEN]),
                    ts=ts,
                    **base,
                )
            )
        groups.append(group)
    return groups


def _old_append_many(redactor: Redactor, entries: Sequence[AuditRecord], tail: tuple[int, str], log: AuditLog) -> Any:
    values: list[Any] = [rec.summary for rec in entries]
    values.extend(rec.detail for rec in entries if rec.detail)
    recs = entries if redactor.all_clean_values(values) else [log._redacted(rec) for rec in entries]
    return old_link([old_prepare(rec, NOW, ts_text(NOW)) for rec in recs], tail)


def _in_time_order(groups: list[list[AuditRecord]]) -> list[list[AuditRecord]]:
    """What SQLite stores (store/time_order.py), plainly: each row at its own time (or NOW),
    but never earlier than the row before it."""
    latest = datetime.min.replace(tzinfo=UTC)
    out = []
    for group in groups:
        out.append([])
        for rec in group:
            own = NOW if rec.ts is None else (rec.ts if rec.ts.tzinfo else rec.ts.replace(tzinfo=UTC))
            latest = max(latest, own)
            out[-1].append(dataclasses.replace(rec, ts=latest))
    return out


class _FixedNow(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW


def _stored(path: Path) -> list[tuple[Any, ...]]:
    raw = sqlite3.connect(path)
    try:
        cells = ", ".join(f"typeof({c}), quote({c})" for c in log_module._COLUMNS)
        return raw.execute(f"SELECT {cells} FROM audit_log ORDER BY id").fetchall()  # noqa: S608
    finally:
        raw.close()


def _db(path: Path) -> Database:
    db = Database(create_db_engine(f"sqlite:///{path}"))
    db.migrate()
    return db


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_new_append_stores_the_rows_the_old_code_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(log_module, "datetime", _FixedNow)
    redactor = Redactor(secret_values=[SECRET])
    groups = _records(seed)
    new_db, old_db = _db(tmp_path / "new.db"), _db(tmp_path / "old.db")
    new_log, old_log = AuditLog(new_db, redactor=redactor), AuditLog(old_db, redactor=redactor)
    tail = (0, ZERO_HASH)
    for group, in_order in zip(groups, _in_time_order(groups), strict=True):
        with new_db.begin() as conn:
            new_log.append_many(conn, group)
        with old_db.begin() as conn:
            params, tail = _old_append_many(redactor, in_order, tail, old_log)
            driver_executemany(conn, log_module._SQLITE_INSERT, params)
    new_rows, old_rows = _stored(tmp_path / "new.db"), _stored(tmp_path / "old.db")
    assert len(new_rows) == sum(len(g) for g in groups)
    assert new_rows == old_rows
    assert not any(SECRET in repr(row) for row in new_rows)  # redacted, not merely equal
    assert new_log.verify().ok and old_log.verify().ok


def test_old_and_new_writers_extend_one_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "datetime", _FixedNow)
    redactor = Redactor(secret_values=[SECRET])
    db = _db(tmp_path / "mixed.db")
    log = AuditLog(db, redactor=redactor)
    tail = (0, ZERO_HASH)
    for n, group in enumerate(_records(4)[:40]):
        with db.begin() as conn:
            if n % 2:
                log.append_many(conn, group)
            else:
                params, tail = _old_append_many(redactor, group, log.head(), log)
                driver_executemany(conn, log_module._SQLITE_INSERT, params)
                log._tail = None  # another writer: the guard and a fresh read keep the chain
    assert log.verify().ok
    assert tail != (0, ZERO_HASH)


@pytest.mark.parametrize("seed", [5, 6])
def test_prepare_gives_what_the_old_prepare_gave(seed: int) -> None:
    for group in _records(seed):
        for rec in group:
            assert prepare(rec, NOW, ts_text(NOW)) == old_prepare(rec, NOW, ts_text(NOW))
