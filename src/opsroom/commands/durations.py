"""Durations as people type them: ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``.

Used for command timeouts in YAML and for ``duration`` arguments. A bare number is refused
where a human types it (``90`` could mean seconds or minutes); YAML timeouts may be numbers
of seconds because a config file is read more carefully than a chat line.
"""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# One or more number+unit pairs, largest unit first is not enforced: "90m" is fine.
_PART = re.compile(r"([0-9]{1,9})([smhd])")
_WHOLE = re.compile(r"(?:[0-9]{1,9}[smhd])+")
# Anything longer is almost certainly a typo and would overflow timers downstream.
MAX_SECONDS = 366 * 86400


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises ValueError with a message fit for chat."""
    value = text.strip().lower()
    if not _WHOLE.fullmatch(value):
        raise ValueError("must be a duration like 90s, 15m, 2h or 1d")
    seconds = sum(int(n) * UNITS[unit] for n, unit in _PART.findall(value))
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    if seconds > MAX_SECONDS:
        raise ValueError("must be at most 366d")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 900 -> ``15m``, 5400 -> ``1h30m``, 45 -> ``45s``."""
    remaining = int(seconds)
    if remaining <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
