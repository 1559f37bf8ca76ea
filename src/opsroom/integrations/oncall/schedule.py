"""Who is on call when: rotations, layers, overrides — pure time arithmetic, no I/O.

Times in and out are aware datetimes; arithmetic that must follow the wall clock (a 09:00
hand-off in Europe/Berlin stays at 09:00 local across daylight-saving changes) is done on
local dates with ``zoneinfo`` and converted back, never by adding 24 h to an instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, Sequence
from zoneinfo import ZoneInfo

from opsroom.config.oncall import WEEKDAYS, LayerConfig

UTC = dt.UTC
DAY = 86400


def _local(date: dt.date, time: dt.time, tz: ZoneInfo) -> dt.datetime:
    """A wall-clock time on a date as a UTC instant. A time inside a spring-forward gap
    resolves to the instant it would have been before the change (fold=0), i.e. one hour
    later on the new clock; an ambiguous autumn time takes its first occurrence."""
    naive = dt.datetime.combine(date, time)
    # Returned in UTC: Python subtracts and compares two datetimes that share a tzinfo by
    # their wall clocks, which is wrong across a DST change; UTC instants are always right.
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _parse_hhmm(text: str) -> dt.time:
    hour, minute = text.strip().split(":")
    return dt.time(int(hour), int(minute))


@dataclass(frozen=True)
class Shift:
    who: str
    start: dt.datetime
    end: dt.datetime


class Layer(Protocol):
    def shift_at(self, at: dt.datetime) -> Shift | None: ...

    def next_change(self, at: dt.datetime) -> dt.datetime | None: ...


@dataclass
class Rotation:
    """Members take turns for ``shift_seconds`` each, starting with ``members[0]`` at
    ``handoff`` on ``start`` (local time in ``tz``)."""

    members: Sequence[str]
    shift_seconds: float
    handoff: dt.time
    start: dt.date
    tz: ZoneInfo
    hours: tuple[dt.time, dt.time] | None = None
    weekdays: frozenset[int] = frozenset()  # 0 = Monday; empty = all

    @classmethod
    def from_config(cls, cfg: LayerConfig) -> Rotation:
        hours = None
        if cfg.hours:
            a, b = cfg.hours.split("-")
            hours = (_parse_hhmm(a), _parse_hhmm(b))
        return cls(
            members=list(cfg.members),
            shift_seconds=cfg.shift,
            handoff=_parse_hhmm(cfg.handoff),
            start=cfg.start,
            tz=ZoneInfo(cfg.timezone),
            hours=hours,
            weekdays=frozenset(WEEKDAYS.index(d) for d in cfg.weekdays),
        )

    @property
    def _whole_days(self) -> int:
        return int(self.shift_seconds // DAY) if self.shift_seconds % DAY == 0 else 0

    def _turn(self, at: dt.datetime) -> tuple[int, dt.datetime, dt.datetime]:
        """(turn number, shift start, shift end) for the shift containing ``at``."""
        days = self._whole_days
        if days:
            local = at.astimezone(self.tz)
            day = local.date()
            if local.timetz().replace(tzinfo=None) < self.handoff:
                day -= dt.timedelta(days=1)
            turn = (day - self.start).days // days
            first = self.start + dt.timedelta(days=turn * days)
            return (
                turn,
                _local(first, self.handoff, self.tz),
                _local(first + dt.timedelta(days=days), self.handoff, self.tz),
            )
        epoch = _local(self.start, self.handoff, self.tz)
        elapsed = (at - epoch).total_seconds()
        turn = int(elapsed // self.shift_seconds)
        begin = epoch + dt.timedelta(seconds=turn * self.shift_seconds)
        return turn, begin, begin + dt.timedelta(seconds=self.shift_seconds)

    def _active(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.tz)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        if self.hours:
            now, (a, b) = local.time().replace(tzinfo=None), self.hours
            return a <= now < b if a <= b else (now >= a or now < b)
        return True

    def _restriction_change(self, at: dt.datetime) -> dt.datetime | None:
        if not self.hours and not self.weekdays:
            return None
        marks = [dt.time(0, 0)] + (list(self.hours) if self.hours else [])
        day = at.astimezone(self.tz).date()
        candidates = [_local(day + dt.timedelta(days=d), t, self.tz) for d in range(0, 9) for t in marks]
        return min((c for c in candidates if c > at), default=None)

    def shift_at(self, at: dt.datetime) -> Shift | None:
        if not self.members or not self._active(at):
            return None
        turn, start, end = self._turn(at)
        return Shift(self.members[turn % len(self.members)], start, end)

    def next_change(self, at: dt.datetime) -> dt.datetime | None:
        if not self.members:
            return None
        ends = [self._turn(at)[2]]
        restriction = self._restriction_change(at)
        if restriction is not None:
            ends.append(restriction)
        return min(ends)


@dataclass
class IntervalLayer:
    """Fixed intervals (from an iCal calendar): whoever's event covers the moment."""

    shifts: list[Shift] = field(default_factory=list)

    def shift_at(self, at: dt.datetime) -> Shift | None:
        found = [s for s in self.shifts if s.start <= at < s.end]
        return found[-1] if found else None

    def next_change(self, at: dt.datetime) -> dt.datetime | None:
        marks = [t for s in self.shifts for t in (s.start, s.end) if t > at]
        return min(marks, default=None)


@dataclass(frozen=True)
class Override:
    user: str
    start: dt.datetime
    end: dt.datetime


@dataclass
class Schedule:
    """Layers from lowest to highest priority, then overrides (the latest one wins)."""

    name: str
    layers: list[Layer]
    overrides: list[Override] = field(default_factory=list)

    def shift_at(self, at: dt.datetime) -> Shift | None:
        for override in reversed(self.overrides):
            if override.start <= at < override.end:
                return Shift(override.user, override.start, override.end)
        for layer in reversed(self.layers):
            shift = layer.shift_at(at)
            if shift is not None:
                return shift
        return None

    def who(self, at: dt.datetime) -> str | None:
        shift = self.shift_at(at)
        return shift.who if shift else None

    def _next_boundary(self, at: dt.datetime) -> dt.datetime | None:
        marks = [m for layer in self.layers if (m := layer.next_change(at)) is not None]
        marks += [t for o in self.overrides for t in (o.start, o.end) if t > at]
        return min(marks, default=None)

    def next_handoff(
        self, at: dt.datetime, *, horizon: dt.timedelta = dt.timedelta(days=120)
    ) -> tuple[dt.datetime, str | None] | None:
        """When the person on call next changes, and who takes over (None: nobody)."""
        current = self.who(at)
        cursor, limit = at, at + horizon
        for _ in range(5000):
            boundary = self._next_boundary(cursor)
            if boundary is None or boundary > limit:
                return None
            who = self.who(boundary)
            if who != current:
                return boundary, who
            cursor = boundary
        return None
