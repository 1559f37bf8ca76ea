"""Durations as people type them: ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``.

Used for command timeouts in YAML and for ``duration`` arguments. A bare number is refused
where a human types it (``90`` could mean seconds or minutes); YAML timeouts may be numbers
of seconds because a config file is read more carefully than a chat line.
"""

from __future__ import annotations

from opsroom.clock import MAX_SECONDS as MAX_SECONDS
from opsroom.clock import exact as format_duration
from opsroom.clock import parse_duration as parse_duration

__all__ = ["MAX_SECONDS", "format_duration", "parse_duration"]
