"""The normalized alert every intake format is turned into."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

Status = Literal["firing", "resolved"]

SEVERITY_ORDER = {
    "critical": 0,
    "page": 0,
    "high": 1,
    "error": 1,
    "warning": 2,
    "medium": 2,
    "low": 3,
    "info": 4,
    "none": 5,
}


def _frozen(data: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Alert:
    """One alert as opsroom understands it, whatever sent it.

    ``fingerprint`` identifies the alert across notifications (same fingerprint = same
    alert); ``source`` is the configured intake source name; ``external_url`` is the
    Alertmanager (or Grafana) that sent it, used to create silences there.
    """

    fingerprint: str
    status: Status
    labels: Mapping[str, str] = field(default_factory=_frozen)
    annotations: Mapping[str, str] = field(default_factory=_frozen)
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    source: str = ""
    source_type: str = "generic"
    generator_url: str = ""
    external_url: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "") or self.annotations.get("summary", "") or "alert"

    @property
    def severity(self) -> str:
        return (self.labels.get("severity") or "none").lower()

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("title") or self.alertname

    @property
    def description(self) -> str:
        return self.annotations.get("description", "")

    @property
    def runbook_url(self) -> str:
        return self.annotations.get("runbook_url") or self.annotations.get("runbook", "")


_new = object.__new__


def assembled(
    fingerprint: str,
    status: Status,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    source: str,
    source_type: str,
    generator_url: str,
    external_url: str,
) -> Alert:
    """``Alert(...)`` with every field given, for the webhook fast path: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__`` (1.2 µs an alert, a third of
    decoding one); filling the instance's dict at once gives the same object in 0.4 µs
    (tests/unit/alerts/test_fastpath.py checks it field by field)."""
    alert: Alert = _new(Alert)
    alert.__dict__.update(
        fingerprint=fingerprint,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        source=source,
        source_type=source_type,
        generator_url=generator_url,
        external_url=external_url,
    )
    return alert


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """A stable fingerprint from labels, for sources that send none."""
    blob = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.get(severity.lower(), 3)
