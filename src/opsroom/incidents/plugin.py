"""The incidents plugin: the ``incident …`` commands (one catalog command per action, so the
policy decides each), the family step that lets people type ``incident declare``, and the
desk that carries them out through the chat hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from opsroom.config.loader import LoadedConfig
from opsroom.core import Invocation, Message
from opsroom.engine.pipeline import Step
from opsroom.plugins import CommandHandler, Declaration, Extension, Live, PeriodicWork

if TYPE_CHECKING:
    from opsroom.builtins import CommandHost

DESK = "incidents.desk"  # the desk in Services.extras (the runbooks plugin links runs to incidents)


def declare(loaded: LoadedConfig) -> Declaration:
    from opsroom.incidents.commands import family, incident_specs

    return Declaration(commands=incident_specs(loaded.config.incidents), steps=(Step("route", family),))


def start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.config.loader import config_places
    from opsroom.incidents.reminders import Reminders
    from opsroom.incidents.service import IncidentDesk

    config = loaded.config
    oncall = None
    if config.oncall.schedules:
        from opsroom.integrations.oncall import OnCall

        oncall = OnCall(config.oncall).resolve
    folder = config.incidents.postmortem_dir
    desk = IncidentDesk(
        config.incidents,
        db=live.db,
        chat=live.chat,
        audit=live.audit,
        users=live.users,
        places=config_places(loaded, ""),
        oncall=oncall,
        postmortem_dir=(loaded.base_dir / folder).resolve() if folder else None,
        tickets=lambda: live.host().parts.extras.get("tickets.desk"),
    )

    def bind(method: Callable[[Invocation], Awaitable[Message | None]]) -> CommandHandler:
        async def run(_host: CommandHost, inv: Invocation) -> Message | None:
            return await method(inv)

        return run

    handlers = {
        "incident": desk.listing,
        "incident-declare": desk.declare,
        "incident-status": desk.status,
        "incident-severity": desk.severity,
        "incident-role": desk.role,
        "incident-note": desk.note,
        "incident-update": desk.update,
        "incident-resolve": desk.resolve,
        "incident-close": desk.close,
        "incident-timeline": desk.show_timeline,
        "incident-stats": desk.show_stats,
        "incident-followup": desk.followup,
        "incident-alert": desk.link_alert,
        "incident-postmortem": desk.write_postmortem,
    }
    reminders = Reminders(desk, every_seconds=loaded.config.incidents.reminder_check_seconds)
    reminders.leads = live.leads
    live.periodic["incident-reminders"] = PeriodicWork(reminders.every_seconds, reminders.remind_once)
    return Extension(
        name="incidents",
        handlers={name: bind(m) for name, m in handlers.items()},
        services=[reminders],
        extras={DESK: desk},
    )
