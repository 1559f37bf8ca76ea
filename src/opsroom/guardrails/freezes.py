"""Change freezes: configured (fixed dates or recurring windows in a time zone) and switched
on from chat (``/freeze on "release week" until friday``). During a freeze the commands it
names are refused with the freeze's name and end; break-glass overrides it, loudly.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from opsroom.clock import whole_seconds as duration_seconds
from opsroom.config.guardrails import FreezesConfig, FreezeWindow
from opsroom.core import CommandSpec, ParseError
from opsroom.guardrails.tables import freezes
from opsroom.policy.windows import DAYS, Window, parse_window
from opsroom.store.types import as_utc

UTC = dt.UTC
_WEEKDAYS = {
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
}


@dataclass(frozen=True)
class ActiveFreeze:
    name: str
    ends_at: dt.datetime | None  # None: could not be worked out (a window longer than a week)
    reason: str = ""
    source: str = "config"  # "config" | "chat"
    created_by: str = ""

    def until_text(self, tz: dt.tzinfo) -> str:
        if self.ends_at is None:
            return "further notice"
        return self.ends_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _edge(value: dt.date | dt.datetime, tz: ZoneInfo, *, end: bool) -> dt.datetime:
    """A configured date or datetime as an instant: a bare date starts at its midnight, or
    ends at the next one (``until: 2026-01-05`` includes the 5th)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value
    midnight = dt.datetime.combine(value, dt.time(0), tzinfo=tz)
    return midnight + dt.timedelta(days=1) if end else midnight


def _inside(window: Window, local: dt.datetime) -> bool:
    if window.days and DAYS[local.weekday()] not in window.days:
        return False
    if window.start is None or window.end is None:
        return True
    hhmm = local.hour * 100 + local.minute
    if window.start < window.end:
        return window.start <= hhmm < window.end
    return hhmm >= window.start or hhmm < window.end


def _window_end(windows: list[Window], local: dt.datetime) -> dt.datetime | None:
    """When the recurring freeze that holds at ``local`` stops holding (minute steps; only
    computed for a refusal, so a week of steps at worst is fine)."""
    probe = local.replace(second=0, microsecond=0)
    for _ in range(7 * 24 * 60 + 1):
        probe += dt.timedelta(minutes=1)
        if not any(_inside(w, probe) for w in windows):
            return probe
    return None


def _matches(
    commands: Iterable[str],
    when: Mapping[str, list[Any]],
    spec: CommandSpec,
    args: Mapping[str, Any],
    defaults: Iterable[str],
) -> bool:
    names = list(commands) or list(defaults)
    if names and "*" not in names and spec.name not in names:
        return False
    if (not names or "*" in names) and spec.read_only:
        return False  # "every command" means every command that changes something
    for arg, values in when.items():
        if arg not in args or args[arg] not in values:
            return False
    return True


CHAT_FREEZE_TTL = 1.0  # seconds


class FreezeBook:
    def __init__(self, config: FreezesConfig) -> None:
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self._windows = [(f, [parse_window(t) for t in f.every]) for f in config.windows]
        # Freezes switched on from chat, read at most once a second: every command asks, and
        # a change made in this process clears it at once (another replica's within a second).
        self._chat_cache: tuple[float, list[Mapping[str, Any]]] | None = None

    # -- what is frozen now -------------------------------------------------------------------
    def configured_active(self, freeze: FreezeWindow, windows: list[Window], now: dt.datetime) -> ActiveFreeze | None:
        tz = ZoneInfo(freeze.timezone)
        if windows:
            local = now.astimezone(tz)
            if not any(_inside(w, local) for w in windows):
                return None
            end = _window_end(windows, local)
            return ActiveFreeze(freeze.name, end.astimezone(UTC) if end else None, freeze.reason)
        assert freeze.until is not None
        start = _edge(freeze.from_, tz, end=False) if freeze.from_ is not None else None
        end_at = _edge(freeze.until, tz, end=True)
        if (start is None or start <= now) and now < end_at:
            return ActiveFreeze(freeze.name, end_at.astimezone(UTC), freeze.reason)
        return None

    def configured_for(self, spec: CommandSpec, args: Mapping[str, Any], now: dt.datetime) -> ActiveFreeze | None:
        """The configured freeze (not one switched on from chat) that stops this command."""
        for freeze, windows in self._windows:
            if _matches(freeze.commands, freeze.when, spec, args, ()):
                found = self.configured_active(freeze, windows, now)
                if found is not None:
                    return found
        return None

    def active_for(
        self, conn: Connection, spec: CommandSpec, args: Mapping[str, Any], now: dt.datetime
    ) -> ActiveFreeze | None:
        """The freeze that stops this command now, if any (configured ones first)."""
        found = self.configured_for(spec, args, now)
        if found is not None:
            return found
        for row in self._chat_rows(conn, now):
            if _matches(row["commands"], {}, spec, args, self.config.default_commands):
                return ActiveFreeze(row["name"], as_utc(row["ends_at"]), source="chat", created_by=row["created_by"])
        return None

    def list_active(self, conn: Connection, now: dt.datetime) -> list[tuple[ActiveFreeze, list[str]]]:
        """Every freeze in force now, with the commands it names ([] = every changing one)."""
        out: list[tuple[ActiveFreeze, list[str]]] = []
        for freeze, windows in self._windows:
            found = self.configured_active(freeze, windows, now)
            if found is not None:
                out.append((found, list(freeze.commands)))
        for row in self._chat_rows(conn, now):
            out.append(
                (
                    ActiveFreeze(row["name"], as_utc(row["ends_at"]), source="chat", created_by=row["created_by"]),
                    list(row["commands"]) or list(self.config.default_commands),
                )
            )
        return out

    def _chat_rows(self, conn: Connection, now: dt.datetime) -> list[Mapping[str, Any]]:
        cached = self._chat_cache
        if cached is None or time.monotonic() - cached[0] > CHAT_FREEZE_TTL:
            query = select(freezes).where(freezes.c.lifted_at.is_(None), freezes.c.ends_at > now).order_by(freezes.c.id)
            cached = self._chat_cache = (time.monotonic(), [dict(r._mapping) for r in conn.execute(query)])
        return [r for r in cached[1] if as_utc(r["starts_at"]) <= now < as_utc(r["ends_at"])]

    # -- switched from chat ---------------------------------------------------------------------
    def switch_on(
        self,
        conn: Connection,
        name: str,
        ends_at: dt.datetime,
        commands: list[str],
        by: str,
        now: dt.datetime,
    ) -> int:
        result = conn.execute(
            insert(freezes).values(
                name=name, commands=commands, starts_at=now, ends_at=ends_at, created_by=by, created_at=now
            )
        )
        self._chat_cache = None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def lift(self, conn: Connection, name: str, by: str, now: dt.datetime) -> int:
        """Lift chat freezes of that name (case-insensitive); returns how many."""
        rows = [r for r in self._chat_rows(conn, now) if r["name"].lower() == name.lower()]
        for row in rows:
            conn.execute(update(freezes).where(freezes.c.id == row["id"]).values(lifted_at=now, lifted_by=by))
        self._chat_cache = None
        return len(rows)


@dataclass(frozen=True)
class FreezeRequest:
    action: str  # "on" | "off" | "list"
    name: str = ""
    ends_at: dt.datetime | None = None
    commands: tuple[str, ...] = ()


FREEZE_USAGE = (
    'freeze on "NAME" until WHEN [for deploy,rollback] · freeze on "NAME" for 2h · freeze off "NAME" · freeze'
)


def parse_freeze(text: str, now: dt.datetime, tz: ZoneInfo) -> FreezeRequest:
    """``on "release week" until friday [for deploy,rollback]``, ``on hotfix for 2h``,
    ``off "release week"``, or nothing (list). Raises ParseError with the usage."""
    try:
        words = shlex.split(text)
    except ValueError:
        raise ParseError(f"unbalanced quotes — usage: {FREEZE_USAGE}") from None
    if not words or words[0].lower() in ("list", "status"):
        return FreezeRequest("list")
    action, rest = words[0].lower(), words[1:]
    if action not in ("on", "off"):
        raise ParseError(f"freeze takes on, off or nothing — usage: {FREEZE_USAGE}")
    lowered = [w.lower() for w in rest]
    cut = next((i for i, w in enumerate(lowered) if w in ("until", "for")), len(rest))
    name = " ".join(rest[:cut]).strip()
    if not name or len(name) > 100:
        raise ParseError(f"give the freeze a name of 1 to 100 characters — usage: {FREEZE_USAGE}")
    if action == "off":
        if cut != len(rest):
            raise ParseError(f"freeze off takes only the name — usage: {FREEZE_USAGE}")
        return FreezeRequest("off", name)
    tail, ends_at = rest[cut:], None
    commands: tuple[str, ...] = ()
    while tail:
        word = tail.pop(0).lower()
        if word == "until":
            when: list[str] = []
            while tail and tail[0].lower() != "for":
                when.append(tail.pop(0))
            ends_at = parse_until(" ".join(when), now, tz)
        elif word == "for" and tail:
            value = tail.pop(0)
            try:
                ends_at_for = now + dt.timedelta(seconds=duration_seconds(value))
            except ValueError:
                commands = tuple(c for c in value.replace(",", " ").split() if c)
                commands += tuple(c.strip(",") for c in tail if c.strip(","))
                tail = []
            else:
                if ends_at is not None:
                    raise ParseError(f"give until or a duration, not both — usage: {FREEZE_USAGE}")
                ends_at = ends_at_for
        else:
            raise ParseError(f"unexpected `{word}` — usage: {FREEZE_USAGE}")
    if ends_at is None:
        raise ParseError(f"say until when (`until friday`, `for 2h`) — usage: {FREEZE_USAGE}")
    if ends_at <= now:
        raise ParseError("that end time is already past")
    return FreezeRequest("on", name, ends_at, commands)


def parse_until(text: str, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """``friday``, ``tomorrow 18:00``, ``2026-01-05``: a day means the end of that day."""
    if not text.strip():
        raise ParseError("say until when, e.g. `until friday`")
    from dateparser.date import DateDataParser  # ~100 ms to import: only when needed

    parser = DateDataParser(
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RETURN_TIME_AS_PERIOD": True,
            "TIMEZONE": tz.key,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
        },
    )
    data = parser.get_date_data(text)
    if data.date_obj is None:
        raise ParseError(f"`{text}` is not a time I understand (try `friday`, `2026-01-05 18:00`)")
    found = data.date_obj
    today = now.astimezone(tz).date()
    if data.period != "time" and text.strip().lower() in _WEEKDAYS and (found.date() - today).days == 7:
        found = found - dt.timedelta(days=7)  # "until friday", said on a Friday: today
    local: dt.datetime
    if data.period == "time":
        local = found.replace(tzinfo=tz)
    else:  # a day: through its end
        local = dt.datetime.combine(found.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return local.astimezone(UTC)
