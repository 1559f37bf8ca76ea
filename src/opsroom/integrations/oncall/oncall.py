"""The on-call directory: schedules built from config, overrides added at run time (the
alert service persists them and hands them in), and iCal layers kept fresh.

iCal layers are re-read every ``ical_refresh`` (``refresh_due``, called from the alert
notifier's loop) and re-expanded for a rolling ``ical_window`` from *now* on every read — an
unchanged feed (304) is re-expanded from the copy kept in memory — so a schedule never runs
out of shifts after the first window, and a swap made in the calendar shows within the hour.
A failed read keeps the last shifts; ``/oncall`` says how old they are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence
from zoneinfo import ZoneInfo

from opsroom.config.oncall import OncallConfig
from opsroom.integrations.oncall.escalation import EscalationPolicy
from opsroom.integrations.oncall.ical import IcalError, NameMap, load_ical, shifts_from_ical
from opsroom.integrations.oncall.schedule import IntervalLayer, Layer, Override, Rotation, Schedule

if TYPE_CHECKING:  # httpx waits for the first iCal URL read (ical.load_ical)
    import httpx

ONCALL_PREFIX = "oncall:"


@dataclass
class FeedState:
    """One iCal layer's last reads."""

    raw: bytes | None = None
    etag: str = ""
    last_modified: str = ""
    read_at: dt.datetime | None = None  # last successful read (a 304 counts)
    tried_at: dt.datetime | None = None
    problem: str = ""
    unmapped: set[str] = field(default_factory=set)


class OnCall:
    def __init__(self, config: OncallConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._http = http
        self._ical: dict[tuple[str, int], IntervalLayer] = {}
        self.feeds: dict[tuple[str, int], FeedState] = {}
        self._runtime_overrides: dict[str, list[Override]] = {}
        self.policies = {name: EscalationPolicy.from_config(name, cfg) for name, cfg in config.escalations.items()}

    @property
    def names(self) -> list[str]:
        return list(self.config.schedules)

    def schedule(self, name: str) -> Schedule:
        cfg = self.config.schedules.get(name)
        if cfg is None:
            raise KeyError(name)
        layers: list[Layer] = []
        for index, layer in enumerate(cfg.layers):
            if layer.ical_url or layer.ical_file:
                layers.append(self._ical.get((name, index), IntervalLayer()))
            else:
                layers.append(Rotation.from_config(layer))
        overrides = [Override(o.user, o.start, o.end) for o in cfg.overrides]
        overrides += self._runtime_overrides.get(name, [])
        return Schedule(name, layers, overrides)

    def set_overrides(self, name: str, overrides: Sequence[Override]) -> None:
        self._runtime_overrides[name] = sorted(overrides, key=lambda o: o.start)

    def who(self, name: str, at: dt.datetime) -> str | None:
        return self.schedule(name).who(at)

    def resolve(self, target: str, at: dt.datetime) -> list[str]:
        """``oncall:primary`` → the person on call in ``primary`` now (none if nobody);
        anything else is a user name."""
        if target.startswith(ONCALL_PREFIX):
            name = target[len(ONCALL_PREFIX) :]
            if name not in self.config.schedules:
                return []
            who = self.who(name, at)
            return [who] if who else []
        return [target]

    def _ical_layers(self) -> list[tuple[str, int]]:
        return [
            (name, index)
            for name, cfg in self.config.schedules.items()
            for index, layer in enumerate(cfg.layers)
            if layer.ical_url or layer.ical_file
        ]

    async def refresh_due(self, now: dt.datetime) -> list[str]:
        """Re-read the iCal layers not tried for ``ical_refresh``; returns problems."""
        due = [
            key
            for key in self._ical_layers()
            if (tried := self.feeds.get(key, FeedState()).tried_at) is None
            or (now - tried).total_seconds() >= self.config.ical_refresh
        ]
        return await self._refresh(now, due)

    async def refresh_ical(self, now: dt.datetime) -> list[str]:
        """Re-read every iCal layer now; returns problems (the old shifts stay on an error)."""
        return await self._refresh(now, self._ical_layers())

    async def _refresh(self, now: dt.datetime, keys: list[tuple[str, int]]) -> list[str]:
        problems: list[str] = []
        for name, index in keys:
            layer = self.config.schedules[name].layers[index]
            state = self.feeds.setdefault((name, index), FeedState())
            state.tried_at = now
            try:
                fetched = await load_ical(
                    url=layer.ical_url,
                    file=layer.ical_file,
                    http=self._http,
                    etag=state.etag,
                    last_modified=state.last_modified,
                )
                raw = fetched.body if fetched.body is not None else state.raw
                if raw is None:  # a 304 to validators whose body we no longer have
                    raise IcalError("the feed answered 'not modified' but no earlier copy is kept")
                names = NameMap.from_config(layer.ical_people)
                shifts = shifts_from_ical(
                    raw,
                    start=now - dt.timedelta(days=2),
                    end=now + dt.timedelta(seconds=self.config.ical_window),
                    tz=ZoneInfo(layer.timezone),
                    names=names,
                )
            except (IcalError, OSError) as exc:
                state.problem = str(exc)
                problems.append(f"{name} layer {index + 1}: {exc}")
                continue
            state.raw, state.etag, state.last_modified = raw, fetched.etag, fetched.last_modified
            state.read_at, state.problem, state.unmapped = now, "", names.unmapped
            self._ical[(name, index)] = IntervalLayer(shifts)
        return problems

    async def check_feeds(self, now: dt.datetime, users: set[str]) -> list[str]:
        """Warnings for ``opsroom check``: feeds that cannot be read, calendar people in the
        next window who map to no one, and mapped names that are not opsroom users."""
        warnings = [f"on-call {problem}" for problem in await self.refresh_ical(now)]
        for (name, index), state in sorted(self.feeds.items()):
            where = f"on-call {name} layer {index + 1}"
            if state.unmapped:
                warnings.append(f"{where}: calendar people who map to no one: {', '.join(sorted(state.unmapped))}")
            layer = self._ical.get((name, index))
            named = {s.who for s in layer.shifts} if layer is not None else set()
            unknown = sorted(named - users) if users else []
            if unknown:
                warnings.append(f"{where}: on call in the calendar but not opsroom users: {', '.join(unknown)}")
        return warnings

    def feed_notes(self, name: str, now: dt.datetime) -> list[str]:
        """How fresh the schedule's iCal layers are, for ``/oncall``."""
        notes = []
        for key in self._ical_layers():
            if key[0] != name:
                continue
            state = self.feeds.get(key, FeedState())
            label = f"calendar {key[1] + 1}"
            if state.read_at is None:
                notes.append(f"⚠ {label} never read" + (f": {state.problem}" if state.problem else ""))
                continue
            age = (now - state.read_at).total_seconds()
            when = _ago(age)
            if age >= self.config.ical_stale_after:
                notes.append(f"⚠ {label} last read {when}, stale" + (f": {state.problem}" if state.problem else ""))
            else:
                notes.append(f"{label} read {when}")
        return notes


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
