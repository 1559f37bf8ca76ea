"""The audit search language, the same in chat (``/audit …``), the CLI and the console.

    rollback user:alice channel:#ops since last tuesday
    "disk full" action:decision until yesterday
    run:42

Free words (or "quoted phrases") must all appear in the summary, command or detail text
(case-insensitive). ``key:value`` filters: user, command, channel, action, platform, run;
repeating a key means either value. Time: ``since …``, ``until …``, ``before …`` followed
by a natural time (``2h ago``, ``yesterday``, ``last tuesday``, ``2026-11-01``), or the
same as ``since:2026-11-01``. A day-level time means the start of that day (``until`` a day
includes that whole day; a month or year name means all of it); days are in UTC
unless another timezone is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from opsroom.errors import ParseError

FILTER_KEYS = ("user", "command", "channel", "action", "platform", "run")
TIME_KEYS = ("since", "until", "before")
MAX_QUERY_CHARS = 1000
MAX_TIME_WORDS = 4  # "since last tuesday 10am" at most; longer runs are search words
ALLOWED = (
    'words or "quoted phrases", user:NAME, command:NAME, channel:#NAME, action:NAME, '
    "platform:NAME, run:ID, since TIME, until TIME, before TIME "
    "(TIME like 2h ago, yesterday, last tuesday, 2026-11-01)"
)


@dataclass(frozen=True)
class AuditQuery:
    """A parsed search. Empty fields match everything; ``until`` is exclusive."""

    words: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    run_ids: tuple[int, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> str:
        """A short echo of what was searched, for the reply that lists the results."""
        parts = [f'"{w}"' if " " in w else w for w in self.words]
        for label, values in (
            ("user", self.users),
            ("command", self.commands),
            ("channel", self.channels),
            ("action", self.actions),
            ("platform", self.platforms),
            ("run", self.run_ids),
        ):
            if values:
                parts.append(f"{label}:" + "|".join(str(v) for v in values))
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.until:
            parts.append(f"before {self.until:%Y-%m-%d %H:%M} UTC")
        return " ".join(parts) or "everything"


@dataclass
class _Token:
    text: str
    key: str | None  # "user" for user:alice; None for a plain word
    quoted: bool


def _tokenize(text: str) -> list[_Token]:
    """Split on whitespace; double quotes group words (and make ``a:b`` a plain word)."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        key = None
        j = i
        while j < n and (text[j].isalpha() or text[j] == "_"):
            j += 1
        if j > i and j < n and text[j] == ":":
            key = text[i:j].lower()
            i = j + 1
        buf: list[str] = []
        quoted = False
        while i < n and not text[i].isspace():
            if text[i] == '"':
                end = text.find('"', i + 1)
                if end < 0:
                    raise ParseError(f"missing closing quote in: {text[i : i + 40]}")
                buf.append(text[i + 1 : end])
                quoted = True
                i = end + 1
            else:
                buf.append(text[i])
                i += 1
        tokens.append(_Token("".join(buf), key, quoted))
    return tokens


def _zone(tz: str | tzinfo) -> ZoneInfo:
    """A named zone (dateparser needs the name); a fixed UTC tzinfo is taken as UTC."""
    if isinstance(tz, ZoneInfo):
        return tz
    if isinstance(tz, tzinfo):
        if tz.utcoffset(None) == timedelta(0):
            return ZoneInfo("UTC")
        raise ParseError("the search timezone must be a named zone such as Europe/Berlin")
    try:
        return ZoneInfo(tz)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for odd names
        raise ParseError(f"unknown timezone {tz!r}") from exc


def parse_time(text: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The span a natural time names, as (start, end) in UTC, or None if not a time.

    A time of day (``2h ago``, ``10:30``) is an instant: start == end. A day (``yesterday``,
    ``last tuesday``, ``2026-11-01``, ``last week``) is that whole day, so ``since last
    tuesday`` starts at its midnight and ``until yesterday`` includes yesterday; a month
    (``may``, ``last month``) or a year (``2025``) is the whole month or year.
    """
    # Imported here: dateparser takes ~100 ms to load, and only searches need it. A parser
    # costs ~0.5 ms to build, and RELATIVE_BASE differs per call, so one is built per call.
    from dateparser.date import DateDataParser

    parser = DateDataParser(
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "past",
            "RETURN_TIME_AS_PERIOD": True,
            "TIMEZONE": tz.key,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
        },
    )
    data = parser.get_date_data(text)
    found = data.date_obj
    if found is None:
        return None
    if found.tzinfo is not None:  # not expected with the settings above, but be exact
        start = found.astimezone(UTC)
        return (start, start)
    if data.period == "time":
        start = found.replace(tzinfo=tz).astimezone(UTC)
        return (start, start)
    start = found.replace(hour=0, minute=0, second=0, microsecond=0)
    if data.period == "year":  # "2025", "last year": the whole year
        start = start.replace(month=1, day=1)
        end = start.replace(year=start.year + 1)
    elif data.period == "month":  # "may", "last month", "2026-10": the whole month
        start = start.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:  # a day ("yesterday", "last tuesday", "2026-11-01"; "last week" lands on a day)
        end = start + timedelta(days=1)
    return (start.replace(tzinfo=tz).astimezone(UTC), end.replace(tzinfo=tz).astimezone(UTC))


def parse_query(text: str, now: datetime | None = None, *, tz: str | tzinfo = "UTC") -> AuditQuery:
    """Parse the search language; raises ParseError naming what is allowed."""
    if len(text) > MAX_QUERY_CHARS:
        raise ParseError(f"search is too long ({len(text)} characters; at most {MAX_QUERY_CHARS})")
    if "\x00" in text:  # nothing stored holds one (chain.py replaces it), and PostgreSQL refuses it
        raise ParseError("the search contains a NUL character; remove it")
    now = datetime.now(UTC) if now is None else (now if now.tzinfo else now.replace(tzinfo=UTC))
    zone = _zone(tz)
    tokens = _tokenize(text)
    words: list[str] = []
    filters: dict[str, list[Any]] = {k: [] for k in FILTER_KEYS}
    since: datetime | None = None
    until: datetime | None = None

    def apply_time(keyword: str, span: tuple[datetime, datetime]) -> None:
        nonlocal since, until
        if keyword == "since":
            since = span[0] if since is None else max(since, span[0])
        else:
            end = span[1] if keyword == "until" else span[0]
            until = end if until is None else min(until, end)

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.key is None and not tok.quoted and tok.text.lower() in TIME_KEYS:
            keyword = tok.text.lower()
            # The longest run of following plain words that reads as a time.
            run: list[str] = []
            for nxt in tokens[i + 1 : i + 1 + MAX_TIME_WORDS]:
                if nxt.key is not None or nxt.quoted or nxt.text.lower() in TIME_KEYS:
                    break
                run.append(nxt.text)
            for size in range(len(run), 0, -1):
                span = parse_time(" ".join(run[:size]), now, zone)
                if span is not None:
                    apply_time(keyword, span)
                    i += 1 + size
                    break
            else:
                shown = " ".join(run) or "nothing"
                raise ParseError(
                    f"could not read a time after '{keyword}' (got: {shown}); "
                    f"try '{keyword} 2h ago', '{keyword} yesterday', '{keyword} last tuesday' "
                    f"or '{keyword} 2026-11-01'"
                )
            continue
        i += 1
        if tok.key is None:
            if tok.text.strip():
                words.append(tok.text)
            continue
        value = tok.text.strip()
        if tok.key in TIME_KEYS:
            if not value:
                raise ParseError(f"{tok.key}: needs a time, like {tok.key}:2026-11-01 or {tok.key} 2h ago")
            span = parse_time(value, now, zone)
            if span is None:
                raise ParseError(
                    f"could not read {value!r} as a time; try 2h ago, yesterday, last tuesday or 2026-11-01"
                )
            apply_time(tok.key, span)
            continue
        if tok.key not in filters:
            raise ParseError(
                f"unknown filter '{tok.key}:'; you can use {ALLOWED}. "
                f"To search for text with a colon, put it in double quotes."
            )
        if not value:
            raise ParseError(f"{tok.key}: needs a value, like {tok.key}:{_EXAMPLE[tok.key]}")
        if tok.key == "run":
            digits = value.lstrip("#")
            if not digits.isdigit() or len(digits) > 18:
                raise ParseError(f"run: needs a run number, like run:42 (got {value!r})")
            filters["run"].append(int(digits))
        elif tok.key == "user":
            filters["user"].append(value.lstrip("@"))
        else:
            filters[tok.key].append(value)

    if since is not None and until is not None and since >= until:
        raise ParseError(
            f"the time range is empty: since {since:%Y-%m-%d %H:%M} is not before {until:%Y-%m-%d %H:%M} (UTC)"
        )
    return AuditQuery(
        words=tuple(words),
        users=tuple(filters["user"]),
        commands=tuple(filters["command"]),
        channels=tuple(filters["channel"]),
        actions=tuple(filters["action"]),
        platforms=tuple(filters["platform"]),
        run_ids=tuple(filters["run"]),
        since=since,
        until=until,
    )


_EXAMPLE = {
    "user": "alice",
    "command": "rollback",
    "channel": "#ops",
    "action": "decision",
    "platform": "slack",
    "run": "42",
}
