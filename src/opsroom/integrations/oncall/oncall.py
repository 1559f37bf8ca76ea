"""The on-call directory: schedules built from config, overrides added at run time (the
alert service persists them and hands them in), iCal layers refreshed on demand."""

from __future__ import annotations

import datetime as dt
from typing import Sequence
from zoneinfo import ZoneInfo

import httpx

from opsroom.config.oncall import OncallConfig
from opsroom.integrations.oncall.escalation import EscalationPolicy
from opsroom.integrations.oncall.ical import IcalError, load_ical, shifts_from_ical
from opsroom.integrations.oncall.schedule import IntervalLayer, Layer, Override, Rotation, Schedule

ONCALL_PREFIX = "oncall:"


class OnCall:
    def __init__(self, config: OncallConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._http = http
        self._ical: dict[tuple[str, int], IntervalLayer] = {}
        self._runtime_overrides: dict[str, list[Override]] = {}
        self.policies = {
            name: EscalationPolicy.from_config(name, cfg) for name, cfg in config.escalations.items()
        }

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

    async def refresh_ical(self, now: dt.datetime, *, days_ahead: int = 60) -> list[str]:
        """Reload every iCal layer; returns problems (the old shifts stay on an error)."""
        problems: list[str] = []
        for name, cfg in self.config.schedules.items():
            for index, layer in enumerate(cfg.layers):
                if not (layer.ical_url or layer.ical_file):
                    continue
                try:
                    raw = await load_ical(url=layer.ical_url, file=layer.ical_file, http=self._http)
                    shifts = shifts_from_ical(
                        raw,
                        start=now - dt.timedelta(days=2),
                        end=now + dt.timedelta(days=days_ahead),
                        tz=ZoneInfo(layer.timezone),
                    )
                except (IcalError, OSError) as exc:
                    problems.append(f"{name} layer {index + 1}: {exc}")
                    continue
                self._ical[(name, index)] = IntervalLayer(shifts)
        return problems
