"""``incidents:`` in opsroom.yaml: severities, the status lifecycle and the roles of an incident.

The defaults follow what incident tools converge on (see docs/incidents.md): sev1–sev4;
investigating → identified → monitoring → resolved → closed; commander (the one lead), comms
and scribe. A team can rename or add to them; exactly one status is initial, one is final, and
exactly one role is the lead."""

from __future__ import annotations

from pydantic import Field, model_validator

from opsroom.config.base import Section


class SeverityConfig(Section):
    name: str
    description: str = ""
    # How often the incident channel is reminded to post a status update (0: never).
    update_every_minutes: int = Field(60, ge=0)


class StatusConfig(Section):
    name: str
    initial: bool = False
    final: bool = False
    # Reaching this status stamps the milestone (acknowledged, mitigated, resolved, closed).
    milestone: str = ""


class RoleConfig(Section):
    name: str
    lead: bool = False
    description: str = ""


DEFAULT_SEVERITIES = [
    SeverityConfig(name="sev1", description="customers cannot use the product", update_every_minutes=30),
    SeverityConfig(name="sev2", description="a major feature is broken for many", update_every_minutes=60),
    SeverityConfig(name="sev3", description="degraded, with a workaround", update_every_minutes=240),
    SeverityConfig(name="sev4", description="minor; no customer impact yet", update_every_minutes=0),
]
DEFAULT_STATUSES = [
    StatusConfig(name="investigating", initial=True),
    StatusConfig(name="identified", milestone="acknowledged"),
    StatusConfig(name="monitoring", milestone="mitigated"),
    StatusConfig(name="resolved", milestone="resolved"),
    StatusConfig(name="closed", final=True, milestone="closed"),
]
DEFAULT_ROLES = [
    RoleConfig(name="commander", lead=True, description="runs the response and decides"),
    RoleConfig(name="comms", description="keeps stakeholders informed"),
    RoleConfig(name="scribe", description="keeps the timeline"),
]
MILESTONES = ("acknowledged", "mitigated", "resolved", "closed")


class IncidentsConfig(Section):
    severities: list[SeverityConfig] = DEFAULT_SEVERITIES
    statuses: list[StatusConfig] = DEFAULT_STATUSES
    roles: list[RoleConfig] = DEFAULT_ROLES
    announce_channel: str = Field("#incidents", description="Where every declaration is announced.")
    war_room_channel: str = Field(
        "#war-room", description="Where an incident gets a thread when the platform cannot create channels."
    )
    timeline_reaction: str = Field("📌", description="Reacting with this adds a message to the timeline.")
    lead_unclaimed_minutes: int = Field(10, ge=1, description="Remind the channel when nobody leads after this.")
    reminder_check_seconds: float = Field(
        30.0, ge=1, description="How often opsroom looks for reminders that are due (one check per cluster)."
    )
    oncall: dict[str, str] = Field(
        {}, description="Service -> who leads its incidents: `oncall:<schedule>` or a user name."
    )
    default_oncall: str = Field("", description="Who leads incidents of services not listed in `oncall`.")
    postmortem_dir: str = Field(
        "",
        description="Folder (relative to opsroom.yaml) the postmortem drafts are written to, e.g. the KB's; "
        "empty: kept in the database only.",
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> IncidentsConfig:
        for kind, items in (("severities", self.severities), ("statuses", self.statuses), ("roles", self.roles)):
            names = [i.name for i in items]
            if not names:
                raise ValueError(f"incidents.{kind}: at least one is needed")
            if len(set(names)) != len(names):
                raise ValueError(f"incidents.{kind}: names must be unique")
        for flag in ("initial", "final"):
            count = sum(1 for s in self.statuses if getattr(s, flag))
            if count != 1:
                raise ValueError(f"incidents.statuses: exactly one status is {flag} (found {count})")
        leads = sum(1 for r in self.roles if r.lead)
        if leads != 1:
            raise ValueError(f"incidents.roles: exactly one role is the lead (found {leads})")
        order = [s.milestone for s in self.statuses if s.milestone]
        unknown = [m for m in order if m not in MILESTONES]
        if unknown:
            raise ValueError(f"incidents.statuses: unknown milestone {unknown[0]!r} ({', '.join(MILESTONES)})")
        if order != sorted(order, key=MILESTONES.index) or len(set(order)) != len(order):
            raise ValueError("incidents.statuses: milestones must come in order: " + " → ".join(MILESTONES))
        if self.statuses[0].initial is False or self.statuses[-1].final is False:
            raise ValueError("incidents.statuses: list them in order, the initial first and the final last")
        return self
