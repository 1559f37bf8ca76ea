"""The common Alertmanager webhook body, decoded and checked in one pass of C.

Nearly every body Alertmanager sends has the same shape: the version-4 envelope and alerts
whose labels and annotations are maps of text. ``msgspec`` decodes exactly that shape into
typed structs (JSON syntax, UTF-8, types and the nesting all checked while decoding), and the
checks ``intake`` applies to each alert are done over whole maps at once. Anything else — an
unknown field, a number where text was expected, a null, an overlong or NUL-carrying text, a
malformed body — is not decided here: the caller takes the strict general path
(``web.intake.loads`` then ``intake.parse``), which accepts or refuses it with the same answers
as before. So this path only ever accepts what that path accepts, with the same result
(``tests/unit/alerts/test_fastpath.py`` compares the two on generated bodies).

Lone surrogates (``\\ud800``), invalid UTF-8, NaN and numbers beyond 64 bits fail the decode;
nesting is bounded by the types (four levels), so the depth limit cannot be reached here.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from opsroom.alerts.intake import (
    MAX_ANNOTATION,
    MAX_FINGERPRINT,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_NAME,
    MAX_URL,
    parse_time,
)
from opsroom.alerts.model import Alert, assembled, fingerprint_of
from opsroom.errors import Refusal

Text = str | None
TextMap = dict[str, str] | None


class _Alert(msgspec.Struct, forbid_unknown_fields=True):
    labels: TextMap = None
    annotations: TextMap = None
    status: Text = None
    startsAt: Text = None  # noqa: N815 (the field's name in the body)
    endsAt: Text = None  # noqa: N815
    generatorURL: Text = None  # noqa: N815
    fingerprint: Text = None


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    alerts: list[_Alert]
    version: str = "4"
    groupKey: Text = None  # noqa: N815
    truncatedAlerts: int | None = None  # noqa: N815
    status: Text = None
    receiver: Text = None
    groupLabels: TextMap = None  # noqa: N815
    commonLabels: TextMap = None  # noqa: N815
    commonAnnotations: TextMap = None  # noqa: N815
    externalURL: Text = None  # noqa: N815


_DECODER = msgspec.json.Decoder(_Payload)


class TooManyAlerts(Refusal):
    """More alerts in one body than a request may carry (the HTTP layer answers 413)."""

    def __init__(self, claimed: int) -> None:
        super().__init__(f"{claimed} alerts in one body")
        self.claimed = claimed


def _clean_map(value: dict[str, str], max_value: int) -> bool:
    """Whether ``intake._string_map`` would keep this map as it is (no refusal, no truncation)."""
    if len(value) > MAX_LABELS:
        return False
    for key in value:
        if not key or len(key) > MAX_NAME:
            return False
    texts = value.values()
    if texts and max(map(len, texts)) > max_value:
        return False
    return "\x00" not in "".join(value) and "\x00" not in "".join(texts)


def _clean_text(value: str | None, limit: int) -> bool:
    return value is None or (len(value) <= limit and "\x00" not in value)


def alertmanager(body: bytes, *, source: str, max_alerts: int) -> list[Alert] | None:
    """The body's alerts as ``intake.parse_alertmanager`` gives them, ``TooManyAlerts``, or
    None when this path does not decide (the caller then takes the general path)."""
    try:
        payload = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    if len(payload.alerts) > max_alerts:
        raise TooManyAlerts(len(payload.alerts))
    external = payload.externalURL
    if payload.version not in ("2", "3", "4") or not _clean_text(external, MAX_URL):
        return None
    times: dict[str | None, dt.datetime | None] = {None: None, "": None}
    out = []
    for item in payload.alerts:
        labels, annotations = item.labels, item.annotations or {}
        if (
            not labels
            or not _clean_map(labels, MAX_LABEL_VALUE)
            or not _clean_map(annotations, MAX_ANNOTATION)
            or not _clean_text(item.fingerprint, MAX_FINGERPRINT)
            or not _clean_text(item.generatorURL, MAX_URL)
        ):
            return None
        starts, ends = item.startsAt, item.endsAt
        if starts not in times or ends not in times:
            try:
                times[starts] = parse_time(starts)
                times[ends] = parse_time(ends)
            except Refusal:
                return None
        status = item.status
        out.append(
            assembled(
                item.fingerprint or fingerprint_of(labels),
                "resolved" if status is not None and status.strip().lower() == "resolved" else "firing",
                labels,
                annotations,
                times[starts],
                times[ends],
                source,
                "alertmanager",
                item.generatorURL or "",
                external or "",
            )
        )
    return out
