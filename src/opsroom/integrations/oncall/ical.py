"""Import on-call shifts from an iCalendar feed (a file or an http(s) URL): each event is a
shift, its SUMMARY names who is on call (``On call: alice`` and ``alice`` both work).
Recurring events are expanded with ``recurring-ical-events``; all-day events run from local
midnight to midnight in the schedule's time zone."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from opsroom.core import OpsroomError
from opsroom.integrations.oncall.schedule import Shift

MAX_ICAL_BYTES = 5_000_000
_PREFIX = re.compile(r"^\s*(on[- ]?call|oncall)\s*[:\-–]\s*", re.IGNORECASE)


class IcalError(OpsroomError):
    pass


def _as_instant(value: dt.date | dt.datetime, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        local = value.replace(tzinfo=tz) if value.tzinfo is None else value
    else:
        local = dt.datetime.combine(value, dt.time(0, 0), tzinfo=tz)
    return local.astimezone(dt.UTC)


def shifts_from_ical(text: str | bytes, *, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> list[Shift]:
    """Every shift that overlaps [start, end), ordered by start."""
    try:
        import icalendar
        import recurring_ical_events
    except ImportError as exc:  # pragma: no cover - the oncall extra is not installed
        raise IcalError("iCal import needs the oncall extra: pip install 'opsroom[oncall]'") from exc
    try:
        calendar = icalendar.Calendar.from_ical(text)
        events = recurring_ical_events.of(calendar).between(start, end)
    except Exception as exc:  # the parser raises many kinds of errors on a broken feed
        raise IcalError(f"could not read the iCal feed: {exc}") from None
    shifts = []
    for event in events:
        summary = str(event.get("SUMMARY", "")).strip()
        who = _PREFIX.sub("", summary).strip()
        if not who or "DTSTART" not in event:
            continue
        begin = _as_instant(event["DTSTART"].dt, tz)
        if "DTEND" in event:
            finish = _as_instant(event["DTEND"].dt, tz)
        elif "DURATION" in event:
            finish = begin + event["DURATION"].dt
        else:
            finish = begin + dt.timedelta(days=1)
        if finish > begin:
            shifts.append(Shift(who, begin, finish))
    shifts.sort(key=lambda s: s.start)
    return shifts


async def load_ical(*, url: str = "", file: str = "", http: httpx.AsyncClient | None = None) -> bytes:
    """Read a feed; URLs must be http(s) and answer within 10 s and 5 MB."""
    if file:
        path = Path(file)
        if path.stat().st_size > MAX_ICAL_BYTES:
            raise IcalError(f"{file} is larger than {MAX_ICAL_BYTES} bytes")
        return path.read_bytes()
    if not url.startswith(("http://", "https://")):
        raise IcalError("ical_url must start with http:// or https://")
    client = http or httpx.AsyncClient(timeout=10.0)
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise IcalError(f"the iCal feed answered HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ICAL_BYTES:
                    raise IcalError(f"the iCal feed is larger than {MAX_ICAL_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise IcalError(f"could not fetch the iCal feed: {type(exc).__name__}") from None
    finally:
        if http is None:
            await client.aclose()
