"""Change freezes: dated and recurring windows in a time zone, and `/freeze` parsing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opsroom.config.guardrails import FreezesConfig
from opsroom.core import ArgSpec, CommandSpec, ParseError
from opsroom.guardrails.freezes import FreezeBook, parse_freeze

DEPLOY = CommandSpec("deploy", args=(ArgSpec("service"), ArgSpec("env")))
STATUS = CommandSpec("status", read_only=True)
BERLIN = ZoneInfo("Europe/Berlin")
PROD = {"service": "api", "env": "production"}


def book(*windows: dict[str, object]) -> FreezeBook:
    return FreezeBook(FreezesConfig.model_validate({"windows": list(windows)}))


def at(text: str, tz: ZoneInfo = BERLIN) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def test_recurring_window_in_its_time_zone_with_its_end() -> None:
    fridays = book(
        {
            "name": "friday afternoons",
            "every": "Fri 15:00-24:00",
            "timezone": "Europe/Berlin",
            "commands": ["deploy"],
            "when": {"env": "production"},
        }
    )
    found = fridays.configured_for(DEPLOY, PROD, at("2026-03-06 16:00"))  # a Friday
    assert found is not None and found.name == "friday afternoons"
    assert found.ends_at == at("2026-03-07 00:00").astimezone(dt.UTC)
    assert fridays.configured_for(DEPLOY, PROD, at("2026-03-06 14:59")) is None
    assert fridays.configured_for(DEPLOY, {"service": "api", "env": "staging"}, at("2026-03-06 16:00")) is None
    # 14:30 UTC is 15:30 in Berlin: frozen, though 14:30 is before 15:00.
    assert fridays.configured_for(DEPLOY, PROD, at("2026-03-06 14:30", ZoneInfo("UTC"))) is not None


def test_dated_freeze_includes_its_last_day() -> None:
    year_end = book({"name": "year-end", "from": "2026-12-21", "until": "2027-01-04"})
    assert year_end.configured_for(DEPLOY, PROD, at("2026-12-20 23:59", ZoneInfo("UTC"))) is None
    assert year_end.configured_for(DEPLOY, PROD, at("2027-01-04 23:59", ZoneInfo("UTC"))) is not None
    assert year_end.configured_for(DEPLOY, PROD, at("2027-01-05 00:00", ZoneInfo("UTC"))) is None


def test_every_command_means_every_command_that_changes_something() -> None:
    always = book({"name": "all", "every": "Mon-Sun"})
    now = at("2026-03-06 12:00")
    assert always.configured_for(DEPLOY, PROD, now) is not None
    assert always.configured_for(STATUS, {}, now) is None


def test_parse_freeze_from_chat() -> None:
    now = at("2026-03-04 10:00")  # a Wednesday
    on = parse_freeze('on "release week" until friday for deploy,rollback', now, BERLIN)
    assert on.name == "release week" and on.commands == ("deploy", "rollback")
    assert on.ends_at == at("2026-03-07 00:00").astimezone(dt.UTC), "until friday = through friday"
    short = parse_freeze("on hotfix for 2h", now, BERLIN)
    assert short.ends_at == now + dt.timedelta(hours=2)
    on_friday = parse_freeze("on x until friday", at("2026-03-06 10:00"), BERLIN)
    assert on_friday.ends_at == at("2026-03-07 00:00").astimezone(dt.UTC), "said on a Friday: today"
    assert parse_freeze('off "release week"', now, BERLIN).action == "off"
    assert parse_freeze("", now, BERLIN).action == "list"


@pytest.mark.parametrize(
    "text, message",
    [
        ('on "x"', "say until when"),
        ("on until friday", "name"),
        ('sideways "x"', "on, off or nothing"),
        ('on "x" until gibberish-day', "not a time"),
        ('on "x" until yesterday', "already past"),
        ('on "x', "unbalanced quotes"),
    ],
)
def test_bad_freeze_commands_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_freeze(text, at("2026-03-04 10:00"), BERLIN)
