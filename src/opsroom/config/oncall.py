"""The ``oncall:`` section of opsroom.yaml: schedules (layers of rotations, overrides, iCal
imports) and escalation policies."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from opsroom.config.alerts import Duration
from opsroom.config.base import Section

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
    return value


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day like 09:00")
    return value


class IcalPersonConfig(Section):
    """Who a calendar event names, as an opsroom user: by an attendee's (or the organizer's)
    e-mail address, or by a regular expression searched (case-insensitively) in the event's
    title, e.g. ``{summary: "\\bGrace\\b", user: grace}`` for "[Primary] Grace on call"."""

    user: str = Field(min_length=1)
    summary: str = ""
    email: str = ""

    @model_validator(mode="after")
    def _one(self) -> IcalPersonConfig:
        if bool(self.summary) == bool(self.email):
            raise ValueError("give either summary (a pattern) or email, not both")
        if self.summary:
            try:
                re.compile(self.summary)
            except re.error as exc:
                raise ValueError(f"summary is not a valid regular expression: {exc}") from None
        if self.email and "@" not in self.email:
            raise ValueError(f"{self.email!r} is not an e-mail address")
        return self


class LayerConfig(Section):
    """One rotation: members take turns, each for ``shift``, handing off at ``handoff`` local
    time in ``timezone``. Whole-day shifts follow the wall clock (a 09:00 hand-off stays at
    09:00 across daylight-saving changes); shorter shifts are counted in elapsed time.
    ``hours``/``weekdays`` restrict when the layer applies (e.g. a business-hours layer)."""

    name: str = ""
    members: list[str] = Field(default_factory=list)
    shift: Duration = 7 * 86400.0
    handoff: str = "09:00"
    start: dt.date = dt.date(2024, 1, 1)
    timezone: str = "UTC"
    hours: str = ""  # "09:00-17:00" local; empty = all day
    weekdays: list[str] = []  # mon..sun; empty = every day
    ical_url: str = ""
    ical_file: str = ""
    ical_people: list[IcalPersonConfig] = Field(
        default_factory=list,
        description="Map calendar people to opsroom users; when set, events that match no one "
        "are left out (and `opsroom check` lists them). Empty: the title minus 'On call:' is the user.",
    )

    _tz = field_validator("timezone")(_check_tz)
    _handoff = field_validator("handoff")(_check_hhmm)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value:
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError("hours look like 09:00-17:00")
            for part in parts:
                _check_hhmm(part.strip())
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [d.lower()[:3] for d in value]
        for d in days:
            if d not in WEEKDAYS:
                raise ValueError(f"{d!r} is not a weekday (mon..sun)")
        return days

    @model_validator(mode="after")
    def _source(self) -> LayerConfig:
        if not self.members and not self.ical_url and not self.ical_file:
            raise ValueError("a layer needs members, ical_url or ical_file")
        if self.shift < 60:
            raise ValueError("shift must be at least 1m")
        return self


class OverrideConfig(Section):
    user: str
    start: dt.datetime
    end: dt.datetime

    @model_validator(mode="after")
    def _order(self) -> OverrideConfig:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override start/end need a UTC offset, e.g. 2025-03-30T09:00:00+02:00")
        if self.end <= self.start:
            raise ValueError("override end must be after start")
        return self


class ScheduleConfig(Section):
    """Layers listed later win where they have someone on call; overrides win over all."""

    description: str = ""
    layers: list[LayerConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = []


class EscalationStepConfig(Section):
    after: Duration = 0.0  # since the previous step (the first: since the alert was posted)
    notify: list[str] = Field(min_length=1)  # users or oncall:<schedule>
    dm: bool = False


class EscalationPolicyConfig(Section):
    steps: list[EscalationStepConfig] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=10, description="times to run the chain again after the last step")


class OncallConfig(Section):
    schedules: dict[str, ScheduleConfig] = {}
    escalations: dict[str, EscalationPolicyConfig] = {}
    max_override: Duration = 7 * 86400.0
    ical_refresh: Duration = Field(3600.0, description="How often iCal feeds are read again (ETag-aware).")
    ical_window: Duration = Field(60 * 86400.0, description="How far ahead iCal shifts are expanded, from each read.")
    ical_stale_after: Duration = Field(
        3 * 3600.0, description="/oncall warns when a feed has not been read successfully for this long."
    )
