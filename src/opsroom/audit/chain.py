"""The hash chain: what one audit entry is, and how its hash is computed.

Each row's hash covers every field of the row plus the previous row's hash, so changing,
deleting or moving any row breaks the chain from that row on. The canonical form is plain
JSON so anyone can recompute a hash from an export without opsroom:

    sha256( json.dumps([id, ts, actor, action, command, platform, channel, run_id,
                        summary, detail, prev_hash],
                       sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                       allow_nan=False).encode("utf-8") )

with ``ts`` written as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six digits of
microseconds) so SQLite and PostgreSQL give back exactly the text that was hashed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json import encoder as _json_encoder
from typing import Any

from opsroom import jsontext
from opsroom.core.quickinit import quick_init

ZERO_HASH = "0" * 64

# Column widths of audit_log (store/tables.py). PostgreSQL refuses longer values, and a value
# typed by a user (an unknown command name, a channel name) must never make an append fail,
# so longer values are cut before hashing: the hash covers what is stored.
FIELD_LIMITS = {"actor": 200, "action": 60, "command": 100, "platform": 50, "channel": 200}

_SURROGATE = re.compile("[\ud800-\udfff]")
# json.JSONEncoder(...).encode with these arguments, the C encoder built once (same bytes).
_DUMPS_DETAIL = jsontext.encoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
)
_DUMPS_HEAD = jsontext.encoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# A JSON string literal exactly as json.dumps(ensure_ascii=False) writes it (its C function).
_quote = _json_encoder.encode_basestring


@quick_init  # four a command: built in half the time (core/quickinit.py)
@dataclass(frozen=True)
class AuditRecord:
    """One step to append (``AuditLog.append_many`` takes several in one statement)."""

    actor: str
    action: str
    command: str = ""
    platform: str = ""
    channel: str = ""
    run_id: int | None = None
    summary: str = ""
    detail: Mapping[str, Any] | None = None
    ts: datetime | None = None


@quick_init  # one per row that verify, search and export read (core/quickinit.py)
@dataclass(frozen=True)
class AuditEntry:
    """One stored row of the audit log, as read back."""

    id: int
    ts: datetime  # aware, UTC
    actor: str
    action: str
    command: str
    platform: str
    channel: str
    run_id: int | None
    summary: str
    detail: dict[str, Any] = field(hash=False)
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        """The export form: every field, ``ts`` as hashed, so a line can be re-hashed alone."""
        return {
            "id": self.id,
            "ts": ts_text(self.ts),
            "actor": self.actor,
            "action": self.action,
            "command": self.command,
            "platform": self.platform,
            "channel": self.channel,
            "run_id": self.run_id,
            "summary": self.summary,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def computed_hash(self, *, id: int | None = None, prev_hash: str | None = None) -> str:
        """The hash this entry's content gives (optionally as if it sat at another id or
        linked to another row: verify uses that to tell a moved row from an edited one)."""
        return entry_hash(
            self.id if id is None else id,
            ts_text(self.ts),
            self.actor,
            self.action,
            self.command,
            self.platform,
            self.channel,
            self.run_id,
            self.summary,
            canonical_detail(self.detail),
            self.prev_hash if prev_hash is None else prev_hash,
        )


def to_utc(ts: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already (SQLite gives those back)."""
    if ts.tzinfo is UTC:
        return ts
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


_TS_FORMAT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def ts_text(ts: datetime) -> str:
    """``2026-11-03T10:00:00.000000Z``: UTC, always six digits (isoformat drops them at 0)."""
    tz = ts.tzinfo
    if tz is not UTC and tz is not None:
        ts = to_utc(ts)
    # isoformat's own text for these fields (a four-digit year, six digits of microseconds),
    # written without its offset work: 0.54 against 0.96 µs; the audit appends two of these
    # a command, verify and export one a row (tests compare with isoformat).
    return _TS_FORMAT % (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second, ts.microsecond)


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """The detail as canonical JSON text; this exact text is stored and hashed.

    Values that are not JSON (datetimes, sets, objects) become their ``str``; NaN and
    infinities become strings too (neither backend's JSON accepts them).
    """
    if not detail:
        return "{}"
    if type(detail) is not dict:  # a read-only or custom Mapping: as the dict it reads as
        detail = dict(detail)  # (else it is no JSON object: stored as its str, verify fails)
    try:
        return _DUMPS_DETAIL(detail)
    except (ValueError, TypeError):
        # NaN/inf, or keys of mixed types that cannot be sorted: make it plain JSON first.
        return _DUMPS_DETAIL(_plain(detail))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def entry_hash(
    id: int,
    ts: str,
    actor: str,
    action: str,
    command: str,
    platform: str,
    channel: str,
    run_id: int | None,
    summary: str,
    detail_json: str,
    prev_hash: str,
) -> str:
    """sha256 of the canonical JSON list (see the module docstring).

    Built by splicing the already-canonical detail text into the list instead of
    serialising it twice; the result is byte-for-byte what ``json.dumps`` of the whole list
    gives (tests check that).
    """
    if (
        id.__class__ is int
        and (run_id is None or run_id.__class__ is int)
        and ts.__class__ is actor.__class__ is action.__class__ is command.__class__ is str
        and platform.__class__ is channel.__class__ is summary.__class__ is str
    ):
        # What the encoder writes for these types (ints by int.__repr__, strings by _quote),
        # written out directly: the hot path's rows are always these types.
        q = _quote
        run = "null" if run_id is None else int.__repr__(run_id)
        text = (
            f"[{int.__repr__(id)},{q(ts)},{q(actor)},{q(action)},{q(command)},{q(platform)},"
            f'{q(channel)},{run},{q(summary)},{detail_json},"{prev_hash}"]'
        )
    else:
        head = _DUMPS_HEAD([id, ts, actor, action, command, platform, channel, run_id, summary])
        text = f'{head[:-1]},{detail_json},"{prev_hash}"]'
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# What ``prepare`` returns: ts, ts text, actor, action, command, platform, channel, run_id,
# summary, detail JSON text. A plain tuple: this runs for every audit row.
PreparedRow = tuple[datetime, str, str, str, str, str, str, int | None, str, str]

_LIMITS = (
    FIELD_LIMITS["actor"],
    FIELD_LIMITS["action"],
    FIELD_LIMITS["command"],
    FIELD_LIMITS["platform"],
    FIELD_LIMITS["channel"],
    0,
)


def _clean(value: object, limit: int) -> str:
    """Text PostgreSQL and SQLite will both store as is: no NUL, no lone surrogate, and
    no longer than the column (``limit`` 0 = unlimited)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if limit and len(text) > limit:
        text = text[:limit]
    return text


def prepare(rec: AuditRecord, now: datetime, now_text: str) -> PreparedRow:
    """Clean a record, fix its time in UTC, and write its detail as canonical JSON (one row
    of ``prepare_many``, with its ``ts_text``)."""
    ts, _, values, _ = prepare_many((rec,), now, now_text)[0]
    return (ts, now_text if rec.ts is None else ts_text(ts), *values)


# What ``prepare_many`` gives for each row: its time as the aware datetime (PostgreSQL) and as
# the text SQLite stores (SQLAlchemy's DateTime form), the rest of its stored values in
# ``_COLUMNS`` order (actor … detail JSON text), and the middle of its hash text: everything of
# the hashed list between the id and the previous hash (``_link`` in audit/log.py splices those
# around it: the text ``entry_hash`` hashes).
LinkRow = tuple[datetime, str, tuple[str, str, str, str, str, int | None, str, str], str]


def sqlite_ts(text: str) -> str:
    """``ts_text``'s text as SQLAlchemy stores a DateTime on SQLite (what it reads back)."""
    return f"{text[:10]} {text[11:26]}"


def prepare_many(
    entries: Iterable[AuditRecord], now: datetime, now_text: str, floor: datetime | None = None
) -> list[LinkRow]:
    """``prepare`` of each record, and each row's hash text but for its id and predecessor.

    ``floor`` (SQLite: the newest row's time): no row is stamped earlier than it or than the
    row before it in this call — a record whose own ``ts`` (or ``now``) is earlier gets the
    later time instead, so rows are stored in time order (opsroom.store.time_order). None
    (PostgreSQL): each row keeps its time.

    The same values, cleaned by the same rule (``_clean`` field by field; a text it would keep
    is recognised first and kept), so the same stored bytes and hashes. Computed once a call
    rather than once a row: the time's texts for the rows stamped ``now``, and the cleaned and
    quoted actor, command, platform and channel while rows repeat them (a submit's three rows
    share them; checked by identity, so a different value is always cleaned afresh).
    """
    # (ts_text's text is digits, dashes, colons, a dot, T and Z: quoted as it is)
    now_sqlite, now_quoted = sqlite_ts(now_text), f'"{now_text}"'

    q = _quote
    out: list[LinkRow] = []
    given: tuple[object, ...] = ()  # the previous row's four shared fields, as given
    kept: tuple[str, str, str, str] = ("", "", "", "")
    q_actor = q_place = ""
    for rec in entries:
        if rec.ts is None:
            ts, stored_ts, q_ts = now, now_sqlite, now_quoted
            if floor is not None and ts < floor:  # (an earlier explicit ts in this call)
                ts = floor
                text = ts_text(ts)
                stored_ts, q_ts = sqlite_ts(text), f'"{text}"'
        else:
            ts = to_utc(rec.ts)
            if floor is not None and ts < floor:
                ts = floor
            text = ts_text(ts)
            stored_ts, q_ts = sqlite_ts(text), f'"{text}"'
        if floor is not None:
            floor = ts
        actor, command, platform, channel = rec.actor, rec.command, rec.platform, rec.channel
        if given and actor is given[0] and command is given[1] and platform is given[2] and channel is given[3]:
            actor, command, platform, channel = kept
        else:
            given = (actor, command, platform, channel)
            actor = _kept_or_clean(actor, _LIMITS[0])
            command = _kept_or_clean(command, _LIMITS[2])
            platform = _kept_or_clean(platform, _LIMITS[3])
            channel = _kept_or_clean(channel, _LIMITS[4])
            kept = (actor, command, platform, channel)
            q_actor, q_place = q(actor), f"{q(command)},{q(platform)},{q(channel)}"
        action, summary = rec.action, rec.summary
        if not (
            action.__class__ is str
            and summary.__class__ is str
            and len(action) <= _LIMITS[1]
            and (both := action + summary).isascii()
            and "\x00" not in both
        ):
            action, summary = _kept_or_clean(action, _LIMITS[1]), _kept_or_clean(summary, 0)
        detail_json = _stored_detail(rec.detail)
        run_id = rec.run_id
        if run_id is None:
            run = "null"
        else:
            if run_id.__class__ is not int:
                run_id = int(run_id)
            run = int.__repr__(run_id)
        middle = f',{q_ts},{q_actor},{q(action)},{q_place},{run},{q(summary)},{detail_json},"'
        out.append((ts, stored_ts, (actor, action, command, platform, channel, run_id, summary, detail_json), middle))
    return out


def _stored_detail(detail: Mapping[str, Any] | None) -> str:
    """``canonical_detail``, with a lone surrogate (which cannot be stored as UTF-8) replaced,
    then re-sorted (a changed key may sort differently) so the stored text stays canonical."""
    detail_json = canonical_detail(detail)
    if not detail_json.isascii() and _SURROGATE.search(detail_json):
        detail_json = _DUMPS_DETAIL(json.loads(_SURROGATE.sub("\ufffd", detail_json)))
    return detail_json


def _kept_or_clean(value: Any, limit: int) -> str:
    """``_clean(value, limit)``, skipping its work for a text it would give back as it is."""
    if value.__class__ is str and value.isascii() and "\x00" not in value and (not limit or len(value) <= limit):
        return value
    return _clean(value, limit)
