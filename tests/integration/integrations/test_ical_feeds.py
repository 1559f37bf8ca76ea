"""iCal on-call layers stay true after the first window and follow the calendar: re-read on
a timer with ETag/Last-Modified from a local calendar server, cancelled instances skipped,
calendar people mapped to opsroom users, and staleness shown in /oncall."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.fakes.chat_server import serve

from opsroom.alerts.commands import oncall_report
from opsroom.alerts.service import AlertService
from opsroom.config.oncall import OncallConfig
from opsroom.integrations.oncall.oncall import OnCall

HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 1, 6, tzinfo=dt.UTC)  # opsroom starts (a Tuesday)

# Grace and Bob alternate weeks from Monday 5 January 2026, 09:00 UTC, as exported by a
# calendar app: titles with a team prefix, Bob identified by his attendee address.
BASE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Calendar//EN
BEGIN:VEVENT
UID:grace-weeks@example.com
DTSTAMP:20251201T000000Z
SUMMARY:[Primary] Grace on call
DTSTART:20260105T090000Z
DTEND:20260112T090000Z
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
BEGIN:VEVENT
UID:bob-weeks@example.com
DTSTAMP:20251201T000000Z
SUMMARY:[Primary] on-call week
ATTENDEE;CN=Bob:mailto:Bob@Example.com
DTSTART:20260112T090000Z
DTEND:20260119T090000Z
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
BEGIN:VEVENT
UID:grace-weeks@example.com
RECURRENCE-ID:20260119T090000Z
DTSTAMP:20251201T000000Z
SUMMARY:[Primary] Grace on call
DTSTART:20260119T090000Z
DTEND:20260126T090000Z
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:visitor@example.com
DTSTAMP:20251201T000000Z
SUMMARY:Shadow: Mallory
DTSTART:20260107T090000Z
DTEND:20260107T170000Z
END:VEVENT
{extra}END:VCALENDAR
"""
# Grace's week from 2 March is swapped to Bob in the calendar.
SWAP = """BEGIN:VEVENT
UID:grace-weeks@example.com
RECURRENCE-ID:20260302T090000Z
DTSTAMP:20260301T000000Z
SUMMARY:[Primary] Bob covers
ATTENDEE;CN=Bob:mailto:bob@example.com
DTSTART:20260302T090000Z
DTEND:20260309T090000Z
END:VEVENT
"""


class Calendar:
    """A calendar server: ETag and Last-Modified, 304 to a matching conditional GET."""

    def __init__(self) -> None:
        self.body = BASE.replace("{extra}", "").replace("\n", "\r\n").encode()
        self.status = 200
        self.requests: list[dict[str, str]] = []
        self.not_modified = 0
        self.app = Starlette(routes=[Route("/oncall.ics", self.feed)])

    async def feed(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        if self.status != 200:
            return Response("upstream broken", status_code=self.status)
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return Response(status_code=304, headers={"ETag": etag})
        return Response(
            self.body,
            media_type="text/calendar",
            headers={"ETag": etag, "Last-Modified": "Mon, 01 Dec 2025 00:00:00 GMT"},
        )


@pytest.fixture
async def calendar() -> AsyncIterator[tuple[Calendar, str]]:
    cal = Calendar()
    async with serve(cal.app) as url:
        yield cal, f"{url}/oncall.ics"


def directory(url: str, **extra: Any) -> OnCall:
    layer = {
        "ical_url": url,
        "ical_people": [{"summary": r"\bGrace\b", "user": "grace"}, {"email": "bob@example.com", "user": "bob"}],
    }
    config = OncallConfig.model_validate({"schedules": {"primary": {"layers": [layer]}}, **extra})
    return OnCall(config, http=httpx.AsyncClient(timeout=10))


async def test_the_right_person_is_on_call_at_day_61(calendar: tuple[Calendar, str]) -> None:
    cal, url = calendar
    oncall = directory(url, ical_refresh="6h")
    assert await oncall.refresh_due(T0) == []
    day61 = T0 + dt.timedelta(days=61, hours=12)  # Sunday 8 March: Grace's week from 2 March
    # The notifier's loop calls refresh_due each tick as time goes by; due every 6 h here.
    now = T0
    while now < day61:
        now += HOUR
        assert await oncall.refresh_due(now) == []
    assert oncall.who("primary", day61) == "grace"
    assert oncall.who("primary", day61 + dt.timedelta(days=1)) == "bob"
    # Every re-read was conditional and the unchanged calendar answered 304.
    assert cal.not_modified == len(cal.requests) - 1 == 61 * 4 + 2
    assert cal.requests[-1]["if-none-match"].startswith('"')


async def test_a_swap_in_the_calendar_shows_within_the_refresh_interval(calendar: tuple[Calendar, str]) -> None:
    cal, url = calendar
    oncall = directory(url, ical_refresh="1h")
    await oncall.refresh_due(T0)
    swap_week = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    assert oncall.who("primary", swap_week) == "grace"
    cal.body = BASE.replace("{extra}", SWAP).replace("\n", "\r\n").encode()
    await oncall.refresh_due(T0 + 30 * dt.timedelta(minutes=1))  # not due yet
    assert oncall.who("primary", swap_week) == "grace"
    await oncall.refresh_due(T0 + HOUR)
    assert oncall.who("primary", swap_week) == "bob"


async def test_cancelled_instances_and_unmapped_people_count_for_no_one(calendar: tuple[Calendar, str]) -> None:
    _, url = calendar
    oncall = directory(url)
    await oncall.refresh_due(T0)
    assert oncall.who("primary", dt.datetime(2026, 1, 20, tzinfo=dt.UTC)) is None  # Grace's cancelled week
    assert oncall.who("primary", dt.datetime(2026, 1, 14, tzinfo=dt.UTC)) == "bob"  # by attendee e-mail
    assert oncall.who("primary", dt.datetime(2026, 1, 7, 12, tzinfo=dt.UTC)) == "grace"  # Mallory maps to no one
    assert oncall.feeds[("primary", 0)].unmapped == {"Shadow: Mallory"}


async def test_oncall_shows_when_the_feed_was_read_and_warns_when_stale(calendar: tuple[Calendar, str]) -> None:
    cal, url = calendar
    oncall = directory(url)
    await oncall.refresh_due(T0)
    clock = {"now": T0 + dt.timedelta(minutes=20)}
    service = cast(AlertService, type("S", (), {"oncall": oncall, "clock": lambda self: clock["now"]})())
    assert "calendar 1 read 20 min ago" in oncall_report(service).text
    cal.status = 500
    for hours in range(1, 5):
        problems = await oncall.refresh_due(T0 + hours * HOUR)
    assert problems == ["primary layer 1: the iCal feed answered HTTP 500"]
    clock["now"] = T0 + 4 * HOUR
    text = oncall_report(service).text
    assert "grace now" in text  # the last good shifts are kept…
    assert "⚠ calendar 1 last read 4 h ago, stale: the iCal feed answered HTTP 500" in text  # …and flagged


def test_opsroom_check_names_calendar_people_who_map_to_no_one(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from opsroom.cli import app

    now = dt.datetime.now(dt.UTC)
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:[Primary] Grace on call\r\n"
        f"DTSTART:{now:%Y%m%d}T000000Z\r\nRRULE:FREQ=DAILY\r\nDURATION:PT12H\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b@x\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:Shadow: Mallory\r\n"
        f"DTSTART:{now:%Y%m%d}T120000Z\r\nRRULE:FREQ=DAILY\r\nDURATION:PT12H\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    (tmp_path / "oncall.ics").write_text(ics)
    (tmp_path / "opsroom.yaml").write_text(
        "users:\n  alice: {}\n"
        "oncall:\n  schedules:\n    primary:\n      layers:\n"
        "        - ical_file: oncall.ics\n          ical_people:\n"
        "            - {summary: '\\bGrace\\b', user: grace}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", "--config", "opsroom.yaml"])
    assert result.exit_code == 0, result.output
    assert "on-call primary layer 1: calendar people who map to no one: Shadow: Mallory" in result.stdout
    assert "on-call primary layer 1: on call in the calendar but not opsroom users: grace" in result.stdout
