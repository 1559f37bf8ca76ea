"""Dedup and grouping: which group an alert belongs to, and when a group is due to be
(re)notified. Alertmanager's three timers, applied to chat messages:

- ``group_wait``: a new group waits this long before its first post, so alerts that fire
  together arrive as one message;
- ``group_interval``: after a post, changes (alerts joining or resolving) are gathered for
  this long, then the message is edited and the changes go to its thread;
- ``repeat_interval``: an unchanged, unacknowledged, firing group gets a reminder in its
  thread this often.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Mapping, Sequence

from opsroom.config.alerts import GroupingConfig


def group_labels(labels: Mapping[str, str], group_by: Sequence[str]) -> dict[str, str]:
    """The labels a group is keyed on; ``["..."]`` groups by every label (one alert per group)."""
    if "..." in group_by:
        return dict(labels)
    return {name: labels.get(name, "") for name in group_by}


_KEYS: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
_KEYS_MAX = 50_000


def group_key(channel: str, route: str, labels: Mapping[str, str]) -> str:
    """A stable key for (channel, route, group labels); hashed so it fits an index. The
    keys of recent groups are remembered: intake asks again for every alert of a group."""
    items = tuple(labels.items())
    found = _KEYS.get((channel, route, items))
    if found is None:
        blob = "\x1f".join([channel, route] + [f"{k}\x1e{v}" for k, v in sorted(items)])
        found = hashlib.sha256(blob.encode()).hexdigest()
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[(channel, route, items)] = found
    return found


def next_due(
    *,
    created_at: dt.datetime,
    last_notified_at: dt.datetime | None,
    dirty: bool,
    firing: bool,
    quiet: bool,
    timers: GroupingConfig,
) -> dt.datetime | None:
    """When the group should next be looked at by the notifier, or None for "only on change".

    ``quiet`` is True when reminders are not wanted (acked, silenced, collapsed in a digest).
    """
    if last_notified_at is None:
        return created_at + dt.timedelta(seconds=timers.group_wait)
    if dirty:
        return last_notified_at + dt.timedelta(seconds=timers.group_interval)
    if firing and not quiet:
        return last_notified_at + dt.timedelta(seconds=timers.repeat_interval)
    return None
