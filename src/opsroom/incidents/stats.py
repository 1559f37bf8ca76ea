"""Incident metrics from milestones: time to acknowledge, mitigate, resolve and close, from
the start of impact. Observed into a Prometheus histogram (per milestone, severity and
service) the moment a milestone is first reached, and summed up by ``incident stats``."""

from __future__ import annotations

import datetime as dt

from opsroom.config.incidents import MILESTONES
from opsroom.core import Fields, Message, Section
from opsroom.incidents.postmortem import human
from opsroom.incidents.store import Incident
from opsroom.metrics import Histogram

MILESTONE_SECONDS = Histogram(
    "opsroom_incident_milestone_seconds",
    "Seconds from an incident's start of impact to each milestone (time to acknowledge, mitigate, resolve, close)",
    ["milestone", "severity", "service"],
    buckets=(60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800),
)


def observe_new(
    incident: Incident, before: dict[str, dt.datetime], after: dict[str, dt.datetime], severity: str
) -> None:
    """Milestones stamped by this change (not re-stamped ones after a re-open: those count
    again, as the incident was resolved again)."""
    for milestone, at in after.items():
        if before.get(milestone) != at:
            seconds = max(0.0, (at - incident.state.started_at).total_seconds())
            MILESTONE_SECONDS.labels(milestone, severity, incident.service or "-").observe(seconds)


def summary(found: list[Incident], since_seconds: float) -> Message:
    import statistics  # here: ``incident stats`` is rare, and the module is ≈ 0.1 MiB a server keeps

    days = round(since_seconds / 86400, 1)
    if not found:
        return Message.plain(f"No incidents declared in the last {days:g} days.")
    by_severity: dict[str, int] = {}
    for incident in found:
        by_severity[incident.state.severity] = by_severity.get(incident.state.severity, 0) + 1
    fields: list[tuple[str, str]] = [
        ("incidents", str(len(found))),
        ("by severity", ", ".join(f"{k}: {v}" for k, v in sorted(by_severity.items()))),
    ]
    for milestone in MILESTONES:
        times = [
            (i.state.milestones[milestone] - i.state.started_at).total_seconds()
            for i in found
            if milestone in i.state.milestones
        ]
        if times:
            fields.append(
                (
                    f"time to {milestone}",
                    f"median {human(statistics.median(times))}, worst {human(max(times))} (n={len(times)})",
                )
            )
    return Message(
        f"incident stats, last {days:g} days",
        (Section(f"📊 Incidents declared in the last {days:g} days"), Fields(tuple(fields))),
    )
