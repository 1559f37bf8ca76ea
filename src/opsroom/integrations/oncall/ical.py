"""Import on-call shifts from an iCalendar feed (a file or an http(s) URL): each event is a
shift. Who is on call comes from a ``NameMap`` (attendee e-mails and title patterns mapped
to opsroom users) or, without one, from the SUMMARY itself (``On call: alice`` and ``alice``
both work). Recurring events are expanded with ``recurring-ical-events``; instances marked
``STATUS:CANCELLED`` are no shift; all-day events run from local midnight to midnight in the
schedule's time zone. Feeds are read with ``If-None-Match``/``If-Modified-Since`` so an hourly
re-read of an unchanged calendar costs a 304."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from opsroom.config.oncall import IcalPersonConfig
from opsroom.errors import IntegrationError
from opsroom.integrations.oncall.schedule import Shift

if TYPE_CHECKING:
    import httpx

MAX_ICAL_BYTES = 5_000_000
_PREFIX = re.compile(r"^\s*(on[- ]?call|oncall)\s*[:\-–]\s*", re.IGNORECASE)


class IcalError(IntegrationError):
    """A calendar feed could not be fetched or read."""


@dataclass
class NameMap:
    """Calendar people → opsroom users. ``unmapped`` collects the events that named no one."""

    by_email: dict[str, str] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    unmapped: set[str] = field(default_factory=set)

    @classmethod
    def from_config(cls, people: Sequence[IcalPersonConfig]) -> NameMap:
        return cls(
            by_email={p.email.lower(): p.user for p in people if p.email},
            patterns=[(re.compile(p.summary, re.IGNORECASE), p.user) for p in people if p.summary],
        )

    @property
    def configured(self) -> bool:
        return bool(self.by_email or self.patterns)

    def users(self) -> set[str]:
        return set(self.by_email.values()) | {user for _, user in self.patterns}

    def who(self, summary: str, emails: Iterable[str]) -> str | None:
        if not self.configured:
            return _PREFIX.sub("", summary).strip() or None
        addresses = [e.lower() for e in emails]
        for address in addresses:
            if address in self.by_email:
                return self.by_email[address]
        for pattern, user in self.patterns:
            if pattern.search(summary):
                return user
        self.unmapped.add(summary + (f" <{', '.join(addresses)}>" if addresses else ""))
        return None


def _emails(event: Any) -> list[str]:
    """Attendee and organizer addresses (``mailto:`` stripped)."""
    found = []
    for key in ("ATTENDEE", "ORGANIZER"):
        values = event.get(key)
        for value in values if isinstance(values, list) else [values] if values else []:
            text = str(value)
            if text.lower().startswith("mailto:"):
                found.append(text[7:])
    return found


def _as_instant(value: dt.date | dt.datetime, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        local = value.replace(tzinfo=tz) if value.tzinfo is None else value
    else:
        local = dt.datetime.combine(value, dt.time(0, 0), tzinfo=tz)
    return local.astimezone(dt.UTC)


def shifts_from_ical(
    text: str | bytes, *, start: dt.datetime, end: dt.datetime, tz: ZoneInfo, names: NameMap | None = None
) -> list[Shift]:
    """Every shift that overlaps [start, end), ordered by start."""
    names = names if names is not None else NameMap()
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
        if str(event.get("STATUS", "")).upper() == "CANCELLED" or "DTSTART" not in event:
            continue
        who = names.who(str(event.get("SUMMARY", "")).strip(), _emails(event))
        if not who:
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


@dataclass(frozen=True)
class Fetched:
    """A feed read: ``body`` None means unchanged since the validators we sent."""

    body: bytes | None
    etag: str = ""
    last_modified: str = ""


async def load_ical(
    *,
    url: str = "",
    file: str = "",
    http: httpx.AsyncClient | None = None,
    etag: str = "",
    last_modified: str = "",
) -> Fetched:
    """Read a feed; URLs must be http(s) and answer within 10 s and 5 MB. With the validators
    of the last read, an unchanged feed answers 304 (a file: the same modification time)."""
    if file:
        path = Path(file)
        stat = path.stat()
        if stat.st_size > MAX_ICAL_BYTES:
            raise IcalError(f"{file} is larger than {MAX_ICAL_BYTES} bytes")
        stamp = str(stat.st_mtime_ns)
        if last_modified == stamp:
            return Fetched(None, last_modified=stamp)
        return Fetched(path.read_bytes(), last_modified=stamp)
    if not url.startswith(("http://", "https://")):
        raise IcalError("ical_url must start with http:// or https://")
    import httpx  # here: a server whose feeds are files (or none) never loads it

    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    client = http or httpx.AsyncClient(timeout=10.0)
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag=etag, last_modified=last_modified)
            if response.status_code != 200:
                raise IcalError(f"the iCal feed answered HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ICAL_BYTES:
                    raise IcalError(f"the iCal feed is larger than {MAX_ICAL_BYTES} bytes")
                chunks.append(chunk)
            return Fetched(
                b"".join(chunks),
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
            )
    except httpx.HTTPError as exc:
        raise IcalError(f"could not fetch the iCal feed: {type(exc).__name__}") from None
    finally:
        if http is None:
            await client.aclose()
