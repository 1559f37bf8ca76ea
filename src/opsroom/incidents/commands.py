"""The incident and runbook commands: ordinary catalog entries (``builtin=True``), one per
action, so the policy decides each on its own (``incident-declare`` for everyone,
``incident-close`` for leads …) and every one is parsed, authorized and audited like
``deploy``.

People type them as families — ``/incident declare …``, ``/runbook start …`` — and the
``family`` step (slot ``route``) turns ``incident declare`` into ``incident-declare`` before
the parser sees it, so help, policy and the audit all name the one action.
"""

from __future__ import annotations

from opsroom.config.incidents import IncidentsConfig
from opsroom.core import ArgSpec, ArgType, CommandSpec
from opsroom.engine.pipeline import StepContext, Stop

FAMILIES = ("incident", "runbook")
_INCIDENT = ArgSpec(
    "incident",
    required=False,
    positional=False,
    max_length=120,
    pattern=r"(?i)#?(inc-)?[a-z0-9-]+",
    help="which incident (INC-3 or its slug); default: this war room's",
)
_PERSON = r"@?[A-Za-z0-9][A-Za-z0-9._@-]*"


def incident_specs(config: IncidentsConfig) -> tuple[CommandSpec, ...]:
    severities = tuple(s.name for s in config.severities)
    statuses = tuple(s.name for s in config.statuses)
    roles = tuple(r.name for r in config.roles)
    return (
        CommandSpec(
            "incident",
            summary="Open incidents (incident declare|status|role|note|update|resolve|close …)",
            builtin=True,
            read_only=True,
            examples=("incident",),
        ),
        CommandSpec(
            "incident-declare",
            summary="Declare an incident: a war room, its lead paged, a timeline",
            args=(
                ArgSpec("title", max_length=200, help="what is wrong, in a few words"),
                ArgSpec("severity", ArgType.ENUM, values=severities, help="how bad"),
                ArgSpec(
                    "service",
                    required=False,
                    default="",
                    pattern=r"[a-z0-9][a-z0-9._-]*",
                    max_length=100,
                    help="the service hit (its on-call leads)",
                ),
            ),
            examples=('incident-declare "Payments failing" sev2 service=payments',),
            builtin=True,
        ),
        CommandSpec(
            "incident-status",
            summary="Move an incident to a status",
            args=(ArgSpec("status", ArgType.ENUM, values=statuses), _INCIDENT),
            examples=("incident-status identified",),
            builtin=True,
        ),
        CommandSpec(
            "incident-severity",
            summary="Change an incident's severity",
            args=(ArgSpec("severity", ArgType.ENUM, values=severities), _INCIDENT),
            examples=("incident-severity sev1",),
            builtin=True,
        ),
        CommandSpec(
            "incident-role",
            summary="Give an incident role to someone (me, @name, or none)",
            args=(
                ArgSpec("role", ArgType.ENUM, values=roles),
                ArgSpec("person", pattern=_PERSON, max_length=200, help="me, a user, or none"),
                _INCIDENT,
            ),
            examples=("incident-role commander me", "incident-role comms @bob"),
            builtin=True,
        ),
        CommandSpec(
            "incident-note",
            summary="Add a note to the incident's timeline",
            args=(_INCIDENT, ArgSpec("text", greedy=True, max_length=2000)),
            examples=("incident-note rollback of v4.13.1 looks good",),
            builtin=True,
        ),
        CommandSpec(
            "incident-update",
            summary="Post a status update (to=stakeholders also announces it)",
            args=(
                ArgSpec(
                    "to",
                    ArgType.ENUM,
                    values=("team", "stakeholders"),
                    default="team",
                    required=False,
                    positional=False,
                    help="team: the war room; stakeholders: also the announce channel",
                ),
                _INCIDENT,
                ArgSpec("text", greedy=True, max_length=2000),
            ),
            examples=("incident-update to=stakeholders Payments recover; monitoring",),
            builtin=True,
        ),
        CommandSpec(
            "incident-resolve",
            summary="Resolve the incident and draft its postmortem",
            args=(_INCIDENT,),
            examples=("incident-resolve",),
            builtin=True,
        ),
        CommandSpec(
            "incident-close",
            summary="Close the incident: final summary, war room archived",
            args=(_INCIDENT,),
            examples=("incident-close",),
            builtin=True,
        ),
        CommandSpec(
            "incident-timeline",
            summary="The incident's timeline",
            args=(_INCIDENT,),
            examples=("incident-timeline",),
            builtin=True,
            read_only=True,
        ),
        CommandSpec(
            "incident-followup",
            summary="A follow-up task for the incident, opened as a ticket",
            args=(
                ArgSpec(
                    "owner",
                    required=False,
                    positional=False,
                    pattern=_PERSON,
                    max_length=200,
                    help="who does it (default: you)",
                ),
                _INCIDENT,
                ArgSpec("title", greedy=True, max_length=250, help="what to do"),
            ),
            examples=("incident-followup owner=bob alert on payment provider latency",),
            builtin=True,
        ),
        CommandSpec(
            "incident-alert",
            summary="Link an alert group to the incident: its changes join the timeline",
            args=(ArgSpec("group", ArgType.INT, min=1, help="the alert group number (its card says it)"), _INCIDENT),
            examples=("incident-alert 12",),
            builtin=True,
        ),
        CommandSpec(
            "incident-stats",
            summary="How many incidents, and how fast they were acknowledged and resolved",
            args=(
                ArgSpec(
                    "since",
                    ArgType.DURATION,
                    required=False,
                    default=90 * 86400,
                    min=3600,
                    help="how far back (e.g. 90d)",
                ),
            ),
            examples=("incident-stats since=30d",),
            builtin=True,
            read_only=True,
        ),
        CommandSpec(
            "incident-postmortem",
            summary="(Re)draft the postmortem from the timeline",
            args=(_INCIDENT,),
            examples=("incident-postmortem",),
            builtin=True,
        ),
    )


RUNBOOK_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "runbook",
        summary="Runbooks (runbook list|show|start|step …)",
        builtin=True,
        read_only=True,
        examples=("runbook",),
    ),
    CommandSpec("runbook-list", summary="The runbooks you may start", builtin=True, read_only=True),
    CommandSpec(
        "runbook-show",
        summary="A runbook's steps",
        args=(ArgSpec("runbook", pattern=r"[a-z0-9][a-z0-9._-]*", max_length=120),),
        examples=("runbook-show payments-error-rate",),
        builtin=True,
        read_only=True,
    ),
    CommandSpec(
        "runbook-start",
        summary="Start a runbook here: a checklist card, step by step",
        args=(
            ArgSpec("runbook", pattern=r"[a-z0-9][a-z0-9._-]*", max_length=120),
            ArgSpec("inputs", required=False, greedy=True, max_length=1000, help="the runbook's inputs as name=value"),
        ),
        examples=("runbook-start payments-error-rate env=production version=v4.12.3",),
        builtin=True,
    ),
    CommandSpec(
        "runbook-step",
        summary="Mark a runbook step done or skipped, or run its command",
        args=(
            ArgSpec("run", ArgType.INT, min=1, help="runbook run number"),
            ArgSpec("step", pattern=r"[a-z0-9][a-z0-9_-]*", max_length=40),
            ArgSpec("do", ArgType.ENUM, values=("run", "done", "skip")),
        ),
        examples=("runbook-step 4 rollback run", "runbook-step 4 step-5 done"),
        builtin=True,
    ),
    CommandSpec(
        "runbook-cancel",
        summary="Stop a runbook run (its running commands go on)",
        args=(ArgSpec("run", ArgType.INT, min=1),),
        examples=("runbook-cancel 4",),
        builtin=True,
    ),
)


async def family(ctx: StepContext) -> Stop | None:
    """``incident declare …`` → ``incident-declare …`` when that command exists; the bare
    family name stays (it lists)."""
    if ctx.inv is not None:
        return None
    words = ctx.text.split(None, 2)
    if len(words) >= 2 and words[0].lower() in FAMILIES:
        joined = f"{words[0].lower()}-{words[1].lower()}"
        if ctx.services.catalog.get(joined) is not None:
            ctx.text = " ".join([joined, *words[2:]])
    return None
