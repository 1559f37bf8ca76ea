"""Time windows for shorthand rules: ``"Sat-Sun"``, ``"Mon-Fri 09:00-17:00"``, ``"22:00-06:00"``.

A window is an optional day part (one day, a range of days that may wrap like ``Fri-Mon``,
or the words ``weekdays`` / ``weekends``) and an optional time part ``HH:MM-HH:MM`` (end
exclusive, ``24:00`` allowed, a start later than the end wraps past midnight). Day and time
are each checked against the current local time in the policy's time zone; they compile to
Cedar over ``context.weekday`` and ``context.hhmm`` (hour * 100 + minute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsroom.errors import ConfigError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_WORDS = {"weekdays": DAYS[:5], "weekends": DAYS[5:], "everyday": DAYS}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class WindowError(ConfigError, ValueError):
    """A time window that cannot be understood; the message says what is expected."""


@dataclass(frozen=True)
class Window:
    days: tuple[str, ...] = ()  # empty = every day
    start: int | None = None  # hhmm, inclusive
    end: int | None = None  # hhmm, exclusive

    def to_cedar(self) -> str:
        parts: list[str] = []
        if self.days and len(self.days) < 7:
            if len(self.days) == 1:
                parts.append(f'context.weekday == "{self.days[0]}"')
            else:
                days = ", ".join(f'"{d}"' for d in self.days)
                parts.append(f"[{days}].contains(context.weekday)")
        if self.start is not None and self.end is not None:
            if self.start < self.end:
                parts.append(f"context.hhmm >= {self.start} && context.hhmm < {self.end}")
            else:  # wraps past midnight
                parts.append(f"(context.hhmm >= {self.start} || context.hhmm < {self.end})")
        return " && ".join(parts) if parts else "true"


def _day(token: str, text: str) -> int:
    for index, name in enumerate(DAYS):
        if token.lower() == name.lower() or token.lower() == _long_name(name):
            return index
    raise WindowError(f"{text!r}: {token!r} is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _long_name(short: str) -> str:
    return {
        "Mon": "monday",
        "Tue": "tuesday",
        "Wed": "wednesday",
        "Thu": "thursday",
        "Fri": "friday",
        "Sat": "saturday",
        "Sun": "sunday",
    }[short]


def _days(part: str, text: str) -> tuple[str, ...]:
    if part.lower() in _DAY_WORDS:
        return _DAY_WORDS[part.lower()]
    if "-" in part:
        first, _, last = part.partition("-")
        start, end = _day(first, text), _day(last, text)
        count = (end - start) % 7 + 1
        return tuple(DAYS[(start + i) % 7] for i in range(count))
    return (DAYS[_day(part, text)],)


def _times(part: str, text: str) -> tuple[int, int]:
    match = _TIME.match(part)
    if not match:
        raise WindowError(f"{text!r}: expected a time range like 09:00-17:00, got {part!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    for hour, minute, is_end in ((h1, m1, False), (h2, m2, True)):
        too_late = hour > 24 or (hour == 24 and (minute != 0 or not is_end))
        if too_late or minute > 59:
            raise WindowError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    start, end = h1 * 100 + m1, h2 * 100 + m2
    if start == end:
        raise WindowError(f"{text!r}: start and end are the same")
    return start, end


def parse_window(text: str) -> Window:
    """Parse one window; raises WindowError with a message fit for a config error."""
    parts = text.split()
    if not parts or len(parts) > 2:
        raise WindowError(f'{text!r}: expected days, a time range, or both (e.g. "Mon-Fri 09:00-17:00")')
    days: tuple[str, ...] = ()
    times: tuple[int, int] | None = None
    for part in parts:
        if part[:1].isdigit():
            if times is not None:
                raise WindowError(f"{text!r}: give one time range per window (use a list for more)")
            times = _times(part, text)
        else:
            if days:
                raise WindowError(f"{text!r}: give days as one range like Mon-Fri (use a list for more)")
            days = _days(part, text)
    if times is None:
        return Window(days=days)
    return Window(days=days, start=times[0], end=times[1])


def windows_to_cedar(texts: list[str]) -> str:
    """Cedar that is true inside any of the windows."""
    exprs = [parse_window(t).to_cedar() for t in texts]
    if len(exprs) == 1:
        return exprs[0]
    return " || ".join(f"({e})" for e in exprs)
