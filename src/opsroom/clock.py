"""Time and durations, in one place: "now" (always aware UTC), the two ways a duration is
read, and the ways one is shown. Imports nothing of opsroom's, so every layer may use it.

Reading: people in chat type ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` and a bare number is
refused (``90`` could be seconds or minutes); a config file is read more carefully, so there a
number means seconds, and Alertmanager-style ``500ms``/``1w`` and fractions are accepted.

Showing: ``exact`` (15m, 1h30m — what a person would type back), ``short`` (the two largest
units: 2d3h), ``elapsed`` (a run's time: 4.2s, 3m05s, 1h02m), ``age`` (3m ago).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

MAX_SECONDS = 366 * 86400  # longer is almost certainly a typo, and would overflow timers downstream

_CHAT_PART = re.compile(r"([0-9]{1,9})([smhd])")
_CHAT_WHOLE = re.compile(r"(?:[0-9]{1,9}[smhd])+")
_CHAT_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CONFIG_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_CONFIG_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- reading -------------------------------------------------------------------------------------
def parse_duration(text: str) -> int:
    """Seconds in a duration typed in chat; raises ValueError with a message fit for chat."""
    value = text.strip().lower()
    if not _CHAT_WHOLE.fullmatch(value):
        raise ValueError("must be a duration like 90s, 15m, 2h or 1d")
    seconds = sum(int(n) * _CHAT_UNITS[unit] for n, unit in _CHAT_PART.findall(value))
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    if seconds > MAX_SECONDS:
        raise ValueError("must be at most 366d")
    return seconds


def whole_seconds(value: str | int) -> int:
    """A config duration in whole seconds between 1s and 366d: ``90s``, ``1h30m`` or a number."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30m")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        if not _CHAT_WHOLE.fullmatch(text):
            raise ValueError(f"{value!r} is not a duration like 90s, 30m, 2h or 1d")
        seconds = sum(int(n) * _CHAT_UNITS[u] for n, u in _CHAT_PART.findall(text))
    if seconds <= 0 or seconds > MAX_SECONDS:
        raise ValueError("must be between 1s and 366d")
    return seconds


def config_seconds(value: Any) -> float:
    """A config duration, leniently: ``90``, ``"90s"``, ``"500ms"``, ``"1h30m"``, ``"2d"``, ``"1w"``
    → seconds (a plain number is seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 5m, 1h30m, 2d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _CONFIG_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _CONFIG_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        try:
            return config_seconds(float(text))
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h30m, 2d)") from None
    return total


# -- showing -------------------------------------------------------------------------------------
def _units(seconds: int) -> list[str]:
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return parts


def exact(seconds: float) -> str:
    """The shortest exact spelling: 900 -> ``15m``, 5400 -> ``1h30m``, 45 -> ``45s``."""
    return "".join(_units(int(seconds))) or "0s"


def short(seconds: float) -> str:
    """The two largest units, rounded: 187_000 -> ``2d3h``."""
    return "".join(_units(int(round(seconds)))[:2]) or "0s"


def elapsed(seconds: float) -> str:
    """How long a run took: ``4.2s``, ``3m05s``, ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def age(ts: dt.datetime, now: dt.datetime | None = None) -> str:
    """``3m ago`` style age for chat."""
    seconds = ((now or utcnow()) - ts).total_seconds()
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"
