"""The common Alertmanager webhook body, decoded and checked in one pass of C.

Nearly every body Alertmanager sends has the same shape: the version-4 envelope and alerts
whose labels and annotations are maps of text. ``msgspec`` decodes exactly that shape into
typed structs (JSON syntax, UTF-8, types, nesting and ``intake``'s length limits all checked
while decoding), and a NUL is looked for once in the whole body. Anything else — an
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
from typing import Annotated

import msgspec
from msgspec import Meta

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
# ``intake``'s limits, checked by the decoder while it decodes (lengths in characters, as
# ``len``): a body past one of them fails the decode and goes the general way, which refuses
# it or truncates the text, as before.
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
_Labels = Annotated[dict[_Name, Annotated[str, Meta(max_length=MAX_LABEL_VALUE)]], Meta(max_length=MAX_LABELS)]
_Notes = Annotated[dict[_Name, Annotated[str, Meta(max_length=MAX_ANNOTATION)]], Meta(max_length=MAX_LABELS)]
_Url = Annotated[str, Meta(max_length=MAX_URL)] | None


class _Alert(msgspec.Struct, forbid_unknown_fields=True):
    labels: _Labels | None = None
    annotations: _Notes | None = None
    status: Text = None
    startsAt: Text = None  # noqa: N815 (the field's name in the body)
    endsAt: Text = None  # noqa: N815
    generatorURL: _Url = None  # noqa: N815
    fingerprint: Annotated[str, Meta(max_length=MAX_FINGERPRINT)] | None = None


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
    externalURL: _Url = None  # noqa: N815


_DECODER = msgspec.json.Decoder(_Payload)


class TooManyAlerts(Refusal):
    """More alerts in one body than a request may carry (the HTTP layer answers 413)."""

    def __init__(self, claimed: int) -> None:
        super().__init__(f"{claimed} alerts in one body")
        self.claimed = claimed


def alertmanager(body: bytes, *, source: str, max_alerts: int) -> list[Alert] | None:
    """The body's alerts as ``intake.parse_alertmanager`` gives them, ``TooManyAlerts``, or
    None when this path does not decide (the caller then takes the general path)."""
    try:
        payload = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    if len(payload.alerts) > max_alerts:
        raise TooManyAlerts(len(payload.alerts))
    # A NUL can only come from a ``\\u0000`` escape (or a raw byte, which JSON refuses): with
    # none in the body no text has one, so no text is searched for one. The general path
    # names the field that has it.
    if payload.version not in ("2", "3", "4") or b"\\u0000" in body or b"\x00" in body:
        return None
    external = payload.externalURL
    times: dict[str | None, dt.datetime | None] = {None: None, "": None}
    out = []
    for item in payload.alerts:
        labels, annotations = item.labels, item.annotations or {}
        if not labels:
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
