"""Time windows: small syntax, clear errors."""

from __future__ import annotations

import pytest

from opsroom.policy.windows import Window, WindowError, parse_window, windows_to_cedar


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("Sat-Sun", Window(days=("Sat", "Sun"))),
        ("weekends", Window(days=("Sat", "Sun"))),
        ("weekdays", Window(days=("Mon", "Tue", "Wed", "Thu", "Fri"))),
        ("Fri-Mon", Window(days=("Fri", "Sat", "Sun", "Mon"))),
        ("friday", Window(days=("Fri",))),
        ("09:00-17:30", Window(start=900, end=1730)),
        ("Mon-Fri 9:00-17:00", Window(days=("Mon", "Tue", "Wed", "Thu", "Fri"), start=900, end=1700)),
        ("22:00-06:00", Window(start=2200, end=600)),
        ("Fri 16:00-24:00", Window(days=("Fri",), start=1600, end=2400)),
    ],
)
def test_parse(text: str, window: Window) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected days"),
        ("Mon-Fri 09:00-17:00 UTC", "expected days"),
        ("Funday", "'Funday' is not a day"),
        ("9-17", "expected a time range"),
        ("25:00-26:00", "is not a time of day"),
        ("09:60-10:00", "is not a time of day"),
        ("24:00-06:00", "is not a time of day"),
        ("10:00-10:00", "start and end are the same"),
        ("09:00-10:00 11:00-12:00", "one time range per window"),
        ("Mon Tue", "one range"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        parse_window(text)


def test_cedar() -> None:
    assert windows_to_cedar(["Sat-Sun"]) == '["Sat", "Sun"].contains(context.weekday)'
    assert windows_to_cedar(["22:00-06:00"]) == "(context.hhmm >= 2200 || context.hhmm < 600)"
    assert windows_to_cedar(["Mon 09:00-10:00", "Sun"]) == (
        '(context.weekday == "Mon" && context.hhmm >= 900 && context.hhmm < 1000) || (context.weekday == "Sun")'
    )
    assert windows_to_cedar(["Mon-Sun"]) == "true"
