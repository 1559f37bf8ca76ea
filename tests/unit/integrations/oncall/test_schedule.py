"""Schedule maths: hand-offs in local time across time zones and daylight-saving changes,
layers, overrides, iCal imports, escalation positions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from opsroom.config.oncall import EscalationPolicyConfig, LayerConfig, OncallConfig
from opsroom.integrations.oncall import EscalationPolicy, OnCall, Override, Rotation, Schedule
from opsroom.integrations.oncall.ical import shifts_from_ical

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def rotation(**kw: Any) -> Rotation:
    return Rotation.from_config(LayerConfig.model_validate({"members": ["alice", "bob", "carol"], **kw}))


def test_daily_handoff_stays_at_local_0900_across_spring_forward() -> None:
    rot = rotation(shift="1d", handoff="09:00", timezone="Europe/Berlin", start="2025-03-28")
    sched = Schedule("p", [rot])
    # Before the change Berlin is UTC+1: 09:00 local = 08:00 UTC.
    assert sched.who(at("2025-03-28T07:59:00+00:00")) == "carol"  # the shift before the start date
    assert sched.who(at("2025-03-28T08:00:00+00:00")) == "alice"
    assert sched.who(at("2025-03-29T08:00:00+00:00")) == "bob"
    # 30 March: clocks go 02:00 → 03:00; 09:00 local is now 07:00 UTC.
    assert sched.who(at("2025-03-30T06:59:00+00:00")) == "bob"
    assert sched.who(at("2025-03-30T07:00:00+00:00")) == "carol"
    shift = rot.shift_at(at("2025-03-30T12:00:00+00:00"))
    assert shift is not None
    assert shift.end - shift.start == dt.timedelta(hours=24)
    saturday = rot.shift_at(at("2025-03-29T12:00:00+00:00"))
    assert saturday is not None and saturday.end - saturday.start == dt.timedelta(hours=23)  # the short day


def test_weekly_handoff_across_fall_back_in_new_york() -> None:
    rot = rotation(shift="7d", handoff="10:00", timezone="America/New_York", start="2025-10-27")
    # 2 Nov 2025: EDT (UTC-4) → EST (UTC-5); Monday 3 Nov 10:00 local = 15:00 UTC.
    sched = Schedule("p", [rot])
    assert sched.who(at("2025-11-03T14:59:00+00:00")) == "alice"
    assert sched.who(at("2025-11-03T15:00:00+00:00")) == "bob"
    handoff = sched.next_handoff(at("2025-10-28T00:00:00+00:00"))
    assert handoff is not None and handoff == (at("2025-11-03T15:00:00+00:00"), "bob")


def test_handoff_inside_the_dst_gap_moves_to_the_first_real_instant() -> None:
    rot = rotation(shift="1d", handoff="02:30", timezone="Europe/Berlin", start="2025-03-29")
    shift = rot.shift_at(at("2025-03-30T12:00:00+00:00"))
    assert shift is not None and shift.who == "bob"
    assert shift.start == at("2025-03-30T01:30:00+00:00")  # 02:30 CET does not exist; 03:30 CEST


def test_sub_day_shifts_count_elapsed_time() -> None:
    rot = rotation(shift="12h", handoff="08:00", timezone="Asia/Tokyo", start="2025-01-01")
    sched = Schedule("p", [rot])
    assert sched.who(at("2025-01-01T08:00:00+09:00")) == "alice"
    assert sched.who(at("2025-01-01T20:00:00+09:00")) == "bob"
    assert sched.who(at("2025-01-02T08:00:00+09:00")) == "carol"


def test_two_time_zones_follow_the_sun() -> None:
    europe = rotation(
        members=["eu1", "eu2"],
        shift="1d",
        timezone="Europe/London",
        hours="08:00-20:00",
        weekdays=["mon", "tue", "wed", "thu", "fri"],
    )
    base = rotation(members=["us1"], shift="7d", timezone="America/Los_Angeles")
    sched = Schedule("sun", [base, europe])  # later layers win where they apply
    assert sched.who(at("2025-06-02T09:00:00+01:00")) in ("eu1", "eu2")  # Monday London morning
    assert sched.who(at("2025-06-02T21:00:00+01:00")) == "us1"  # after London hours
    assert sched.who(at("2025-06-07T12:00:00+01:00")) == "us1"  # Saturday
    nxt = sched.next_handoff(at("2025-06-02T19:00:00+01:00"))
    assert nxt is not None and nxt[0] == at("2025-06-02T20:00:00+01:00") and nxt[1] == "us1"


def test_overrides_win_and_the_latest_wins() -> None:
    sched = Schedule(
        "p",
        [rotation(shift="7d")],
        [
            Override("dave", at("2025-01-06T10:00:00+00:00"), at("2025-01-06T12:00:00+00:00")),
            Override("erin", at("2025-01-06T11:00:00+00:00"), at("2025-01-06T11:30:00+00:00")),
        ],
    )
    assert sched.who(at("2025-01-06T10:30:00+00:00")) == "dave"
    assert sched.who(at("2025-01-06T11:15:00+00:00")) == "erin"
    assert sched.who(at("2025-01-06T11:45:00+00:00")) == "dave"
    assert sched.next_handoff(at("2025-01-06T11:45:00+00:00")) == (
        at("2025-01-06T12:00:00+00:00"),
        "carol",
    )  # week 53 since 2024-01-01


ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1@test
DTSTART;TZID=Europe/Berlin:20250324T090000
DTEND;TZID=Europe/Berlin:20250331T090000
SUMMARY:On call: alice
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
BEGIN:VEVENT
UID:2@test
DTSTART;TZID=Europe/Berlin:20250331T090000
DTEND;TZID=Europe/Berlin:20250407T090000
SUMMARY:bob
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
END:VCALENDAR
"""


async def test_ical_layer_with_recurrence_across_dst(tmp_path: Any) -> None:
    path = tmp_path / "oncall.ics"
    path.write_bytes(ICS)
    oncall = OnCall(
        OncallConfig.model_validate(
            {"schedules": {"ext": {"layers": [{"ical_file": str(path), "timezone": "Europe/Berlin"}]}}}
        )
    )
    now = at("2025-03-25T00:00:00+00:00")
    assert await oncall.refresh_ical(now) == []
    assert oncall.who("ext", at("2025-03-31T06:59:00+00:00")) == "alice"  # 08:59 CEST
    assert oncall.who("ext", at("2025-03-31T07:00:00+00:00")) == "bob"
    assert oncall.who("ext", at("2025-04-08T12:00:00+00:00")) == "alice"  # recurrence


async def test_broken_ical_keeps_the_old_shifts(tmp_path: Any) -> None:
    path = tmp_path / "oncall.ics"
    path.write_bytes(ICS)
    oncall = OnCall(OncallConfig.model_validate({"schedules": {"ext": {"layers": [{"ical_file": str(path)}]}}}))
    now = at("2025-03-25T00:00:00+00:00")
    await oncall.refresh_ical(now)
    path.write_bytes(b"this is not a calendar")
    problems = await oncall.refresh_ical(now)
    assert problems and "ext layer 1" in problems[0]
    assert oncall.who("ext", at("2025-03-26T12:00:00+00:00")) == "alice"


def test_ical_all_day_events() -> None:
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20250101\r\n"
        b"DTEND;VALUE=DATE:20250103\r\nSUMMARY:oncall - zoe\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    import zoneinfo

    [shift] = shifts_from_ical(
        ics,
        start=at("2024-12-30T00:00:00+00:00"),
        end=at("2025-01-10T00:00:00+00:00"),
        tz=zoneinfo.ZoneInfo("Asia/Kolkata"),
    )
    assert shift.who == "zoe" and shift.start == at("2025-01-01T00:00:00+05:30")


def test_escalation_positions_with_repeat() -> None:
    policy = EscalationPolicy.from_config(
        "p",
        EscalationPolicyConfig.model_validate(
            {"steps": [{"after": "5m", "notify": ["a"]}, {"after": "10m", "notify": ["b"]}], "repeat": 1}
        ),
    )
    assert [s.notify for s in (policy.step(i) for i in range(4)) if s] == [("a",), ("b",), ("a",), ("b",)]
    assert policy.step(4) is None and policy.round_of(2) == 2


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"members": ["a"], "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"members": ["a"], "handoff": "25:00"}, "time of day"),
        ({"members": ["a"], "weekdays": ["funday"]}, "weekday"),
        ({}, "needs members"),
        ({"members": ["a"], "shift": "10s"}, "at least 1m"),
    ],
)
def test_bad_schedule_config_is_refused(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LayerConfig.model_validate(layer)
