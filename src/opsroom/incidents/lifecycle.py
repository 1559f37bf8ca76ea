"""The rules an incident's state follows, as pure functions, so chat, the API and the console
cannot disagree about them (and a property test can hold them):

- statuses move forward through the configured list, or re-open from a resolved state to an
  earlier active one; the final status (closed) is the end;
- milestones are stamped the first time their status is reached, never move backwards, and
  stay in order (acknowledged ≤ mitigated ≤ resolved ≤ closed); re-opening clears the ones
  after the status re-opened to, so the next resolution is measured again;
- exactly one person holds the lead role at a time (it can be unclaimed), one person may hold
  several roles, and assigning a role replaces its holder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from opsroom.config.incidents import MILESTONES, IncidentsConfig
from opsroom.errors import Refusal


class IncidentRuleError(Refusal, ValueError):
    """A change the rules refuse; the message is the sentence chat shows."""


@dataclass(frozen=True)
class IncidentState:
    status: str
    severity: str
    declared_at: dt.datetime
    started_at: dt.datetime  # may be back-dated to when impact began
    milestones: dict[str, dt.datetime] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # role -> person


def _status_names(config: IncidentsConfig) -> list[str]:
    return [s.name for s in config.statuses]


def lead_role(config: IncidentsConfig) -> str:
    return next(r.name for r in config.roles if r.lead)


def declare(
    config: IncidentsConfig,
    severity: str,
    now: dt.datetime,
    *,
    started_at: dt.datetime | None = None,
    lead: str | None = None,
) -> IncidentState:
    if severity not in [s.name for s in config.severities]:
        raise IncidentRuleError(f"unknown severity {severity!r}; one of {', '.join(s.name for s in config.severities)}")
    started = started_at or now
    if started > now:
        raise IncidentRuleError("an incident cannot start in the future")
    initial = next(s.name for s in config.statuses if s.initial)
    roles = {lead_role(config): lead} if lead else {}
    return IncidentState(status=initial, severity=severity, declared_at=now, started_at=started, roles=roles)


def change_status(config: IncidentsConfig, state: IncidentState, to: str, now: dt.datetime) -> IncidentState:
    names = _status_names(config)
    if to not in names:
        raise IncidentRuleError(f"unknown status {to!r}; one of {', '.join(names)}")
    final = next(s.name for s in config.statuses if s.final)
    if state.status == final:
        raise IncidentRuleError(f"the incident is {final}; declare a new one")
    here, there = names.index(state.status), names.index(to)
    if there == here:
        raise IncidentRuleError(f"the incident is already {to}")
    resolved_at = _milestone_index(config, "resolved")
    reopening = there < here
    if reopening and (resolved_at is None or here < resolved_at):
        raise IncidentRuleError(
            f"statuses move forward ({' → '.join(names)}); an incident re-opens only once it is resolved"
        )
    milestones = dict(state.milestones)
    if reopening:
        for status in config.statuses[there + 1 :]:
            if status.milestone:
                milestones.pop(status.milestone, None)
    else:
        for status in config.statuses[here + 1 : there + 1]:  # skipping ahead stamps what it passes
            if status.milestone and status.milestone not in milestones:
                milestones[status.milestone] = max([now, *milestones.values()])
    return replace(state, status=to, milestones=milestones)


def _milestone_index(config: IncidentsConfig, milestone: str) -> int | None:
    return next((i for i, s in enumerate(config.statuses) if s.milestone == milestone), None)


def assign_role(config: IncidentsConfig, state: IncidentState, role: str, person: str | None) -> IncidentState:
    if role not in [r.name for r in config.roles]:
        raise IncidentRuleError(f"unknown role {role!r}; one of {', '.join(r.name for r in config.roles)}")
    roles = dict(state.roles)
    if person:
        roles[role] = person
    else:
        roles.pop(role, None)
    return replace(state, roles=roles)


def change_severity(config: IncidentsConfig, state: IncidentState, severity: str) -> IncidentState:
    if severity not in [s.name for s in config.severities]:
        raise IncidentRuleError(f"unknown severity {severity!r}; one of {', '.join(s.name for s in config.severities)}")
    return replace(state, severity=severity)


def durations(state: IncidentState) -> dict[str, float]:
    """Seconds from the start of impact to each milestone reached (time to acknowledge, …)."""
    return {m: (state.milestones[m] - state.started_at).total_seconds() for m in MILESTONES if m in state.milestones}
