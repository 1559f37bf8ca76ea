"""Turn what monitoring systems POST into normalized ``Alert``s.

Parsers are strict about shape (a label must be text, an alert must be an object) and
lenient about extra fields: Alertmanager keeps adding fields (``notification_reason`` in
0.32, ``routeLabels`` in 0.34) and a newer sender must not break intake. Anything wrong
raises ``IntakeError`` with a message the sender's operator can act on; nothing is stored
unless the whole payload parses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, Mapping

from opsroom.alerts.model import Alert, Status, fingerprint_of
from opsroom.config.alerts import GenericMapping
from opsroom.errors import Refusal

MAX_LABELS = 100
MAX_NAME = 200
MAX_LABEL_VALUE = 2000
MAX_ANNOTATION = 10_000
MAX_FINGERPRINT = 128
MAX_URL = 2000


class IntakeError(Refusal):
    """The payload is not something we accept; the HTTP layer answers 400 with this text."""


def parse_time(value: Any) -> dt.datetime | None:
    """RFC 3339 → aware UTC datetime; Alertmanager's zero time (year 1) means "not set"."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise IntakeError(f"time {value!r} is not an RFC 3339 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go writes nanoseconds; Python keeps microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)].ljust(6, "0") + rest[digits:]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise IntakeError(f"time {value!r} is not an RFC 3339 string") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if parsed.year <= 1:
        return None
    return parsed.astimezone(dt.UTC)


def _string_map(value: Any, what: str, *, max_value: int, truncate: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IntakeError(f"{what} must be an object of strings")
    if len(value) > MAX_LABELS:
        raise IntakeError(f"{what} has {len(value)} entries; at most {MAX_LABELS} are accepted")
    out: dict[str, str] = {}
    texts: list[str] = []  # as sent, before any truncation
    for key, raw in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_NAME:
            raise IntakeError(f"{what} has an empty or overlong name")
        if raw is None:
            continue
        if isinstance(raw, dict | list):
            raise IntakeError(f"{what}.{key} must be text, not {type(raw).__name__}")
        text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
        texts.append(text)
        if len(text) > max_value:
            if not truncate:
                raise IntakeError(f"{what}.{key} is longer than {max_value} characters")
            text = text[: max_value - 1] + "…"
        out[key] = text
    # The text checks once over the whole map (the common case); one by one only to name
    # the field that fails. Names are checked whether or not their value was kept.
    whole = "\x1f".join([*value, *texts])
    if "\x00" in whole or not _encodes(whole):
        for key in value:
            _check_text(key, f"{what} name")
        for key, raw in value.items():
            if raw is not None:
                text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
                _check_text(text, f"{what}.{key}")
    return out


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str, what: str) -> None:
    """Text a database and a chat platform can carry: no NUL, no lone UTF-16 surrogate."""
    if "\x00" in text:
        raise IntakeError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise IntakeError(f"{what} is not valid Unicode text (a lone surrogate)") from None


def _text(value: Any, what: str, limit: int = MAX_URL) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise IntakeError(f"{what} must be text")
    text = str(value)
    _check_text(text, what)
    if len(text) > limit:
        raise IntakeError(f"{what} is longer than {limit} characters")
    return text


def _status(value: Any, resolved_values: tuple[str, ...] = ("resolved",)) -> Status:
    text = str(value).strip().lower() if value is not None else "firing"
    return "resolved" if text in resolved_values else "firing"


def _alerts_list(payload: Any) -> list[Any]:
    if not isinstance(payload, dict):
        raise IntakeError("the payload must be a JSON object")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise IntakeError("the payload has no 'alerts' list")
    return alerts


def count_alerts(payload: Any, mapping: GenericMapping | None = None) -> int:
    """How many alerts a payload claims to carry, checked before any parsing work."""
    if mapping is not None:
        if not mapping.alerts:
            return 1
        items = dig(payload, mapping.alerts)
        return len(items) if isinstance(items, list) else 0
    if isinstance(payload, dict) and isinstance(payload.get("alerts"), list):
        return len(payload["alerts"])
    return 0


def _am_alert(item: Any, index: int, *, source: str, source_type: str, external_url: str) -> Alert:
    if not isinstance(item, dict):
        raise IntakeError(f"alerts[{index}] must be an object")
    labels = _string_map(item.get("labels"), f"alerts[{index}].labels", max_value=MAX_LABEL_VALUE, truncate=False)
    if not labels:
        raise IntakeError(f"alerts[{index}] has no labels")
    annotations = _string_map(
        item.get("annotations"), f"alerts[{index}].annotations", max_value=MAX_ANNOTATION, truncate=True
    )
    fingerprint = _text(item.get("fingerprint"), f"alerts[{index}].fingerprint", MAX_FINGERPRINT)
    return Alert(
        fingerprint=fingerprint or fingerprint_of(labels),
        status=_status(item.get("status")),
        labels=labels,
        annotations=annotations,
        starts_at=parse_time(item.get("startsAt")),
        ends_at=parse_time(item.get("endsAt")),
        source=source,
        source_type=source_type,
        generator_url=_text(item.get("generatorURL"), f"alerts[{index}].generatorURL"),
        external_url=external_url,
    )


def parse_alertmanager(payload: Any, *, source: str = "alertmanager") -> list[Alert]:
    """Alertmanager webhook, payload version 4 (earlier and later versions have the same
    alert shape; unknown top-level fields are ignored)."""
    items = _alerts_list(payload)
    version = str(payload.get("version", "4"))
    if version not in ("2", "3", "4"):
        raise IntakeError(f"Alertmanager webhook version {version!r} is not supported (expected 4)")
    external = _text(payload.get("externalURL"), "externalURL")
    return [
        _am_alert(item, i, source=source, source_type="alertmanager", external_url=external)
        for i, item in enumerate(items)
    ]


def parse_grafana(payload: Any, *, source: str = "grafana") -> list[Alert]:
    """Grafana alerting webhook: Alertmanager's alert shape plus Grafana fields
    (``silenceURL``, ``dashboardURL``, ``valueString``…) we keep as annotations."""
    items = _alerts_list(payload)
    external = _text(payload.get("externalURL"), "externalURL")
    out = []
    for i, item in enumerate(items):
        alert = _am_alert(item, i, source=source, source_type="grafana", external_url=external)
        extra = {}
        for key in ("dashboardURL", "panelURL", "valueString"):
            value = item.get(key) if isinstance(item, dict) else None
            if isinstance(value, str) and value and len(value) <= MAX_URL:
                extra[key] = value
        if extra:
            alert = replace(alert, annotations={**extra, **alert.annotations})
        out.append(alert)
    return out


def dig(data: Any, path: str) -> Any:
    """``dig({"a": {"b": [1, 2]}}, "a.b.1") == 2``; missing → None."""
    current = data
    for part in path.split(".") if path else ():
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def parse_generic(payload: Any, mapping: GenericMapping, *, source: str) -> list[Alert]:
    """Any JSON, mapped by the source's configured paths."""
    if mapping.alerts:
        items = dig(payload, mapping.alerts)
        if not isinstance(items, list):
            raise IntakeError(f"'{mapping.alerts}' is not a list in the payload")
    else:
        items = [payload]
    resolved = tuple(v.lower() for v in mapping.resolved_values)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise IntakeError(f"alert {i} must be a JSON object")
        title = _text(dig(item, mapping.title), f"alert {i} {mapping.title}", MAX_LABEL_VALUE)
        if not title:
            raise IntakeError(f"alert {i} has no title at '{mapping.title}'")
        labels = _string_map(
            dig(item, mapping.labels) if mapping.labels else None,
            f"alert {i} labels",
            max_value=MAX_LABEL_VALUE,
            truncate=False,
        )
        labels.setdefault("alertname", title if len(title) <= 200 else title[:200])
        severity = _text(dig(item, mapping.severity), f"alert {i} severity", 50)
        if severity:
            labels.setdefault("severity", severity.lower())
        annotations = _string_map(
            dig(item, mapping.annotations) if mapping.annotations else None,
            f"alert {i} annotations",
            max_value=MAX_ANNOTATION,
            truncate=True,
        )
        annotations.setdefault("summary", title)
        for key, path in (("description", mapping.description), ("runbook_url", mapping.runbook_url)):
            if path:
                value = _text(dig(item, path), f"alert {i} {key}", MAX_ANNOTATION)
                if value:
                    annotations.setdefault(key, value)
        raw_status = dig(item, mapping.status)
        fingerprint = ""
        if mapping.fingerprint:
            fingerprint = _text(dig(item, mapping.fingerprint), f"alert {i} fingerprint", MAX_FINGERPRINT)
        out.append(
            Alert(
                fingerprint=fingerprint or fingerprint_of(labels),
                status=_status(raw_status, resolved),
                labels=labels,
                annotations=annotations,
                starts_at=parse_time(dig(item, mapping.starts_at)) if mapping.starts_at else None,
                source=source,
                source_type="generic",
                generator_url=_text(dig(item, mapping.url), f"alert {i} url") if mapping.url else "",
            )
        )
    return out


def parse(kind: str, payload: Any, *, source: str, mapping: GenericMapping | None = None) -> list[Alert]:
    if kind == "alertmanager":
        return parse_alertmanager(payload, source=source)
    if kind == "grafana":
        return parse_grafana(payload, source=source)
    if kind == "generic" and mapping is not None:
        return parse_generic(payload, mapping, source=source)
    raise IntakeError(f"unknown intake type {kind!r}")


def alertmanager_payload(
    alerts: list[Mapping[str, Any]],
    *,
    status: str = "firing",
    external_url: str = "",
    receiver: str = "opsroom",
) -> dict[str, Any]:
    """Build a version-4 webhook body (the demo and the benchmark use it)."""
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": list(alerts),
    }
