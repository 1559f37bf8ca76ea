"""Optional parts of opsroom (alerts and on-call, ticketing…) plugged into a System.

Each part comes as an ``Extension``: the commands it adds to the catalog and their handlers,
the permissions it checks (button clicks), its HTTP routes, its background services and its
button kinds. The composition root (``opsroom.app``) builds the extensions the config asks
for; the engine never knows which ones exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from opsroom.actions import ActionRequest, ActionSigner
from opsroom.chat.base import ChatHub
from opsroom.config.loader import LoadedConfig
from opsroom.core import CommandSpec, Invocation, Message, Place
from opsroom.store import Database

ExtensionHandler = Callable[[Any, Invocation], Awaitable[Message | None]]
ActionHandler = Callable[[Any, ActionRequest], Awaitable[Message | None]]


@dataclass
class Extension:
    name: str
    specs: tuple[CommandSpec, ...] = ()
    handlers: dict[str, ExtensionHandler] = field(default_factory=dict)  # (engine, inv) -> Message
    # Permissions checked by policy that are not typed commands (e.g. clicking Ack).
    permissions: tuple[CommandSpec, ...] = ()
    routes: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    actions: dict[str, ActionHandler] = field(default_factory=dict)  # kind -> (engine, req) -> Message
    guards: list[Any] = field(default_factory=list)  # checked before any other guard
    engine_flags: dict[str, type] = field(default_factory=dict)  # e.g. {"change": str}


def config_places(loaded: LoadedConfig, default_platform: str) -> dict[str, Place]:
    """Configured channels by name, as Places on their platform."""
    return {c.name: Place(c.platform or default_platform, c.id or c.name.lstrip("#"), channel_name=c.name)
            for c in loaded.config.channels}


def alerts_extension(loaded: LoadedConfig, *, db: Database, chat: ChatHub, signer: ActionSigner,
                     audit: Any, directory_users: Any) -> Extension | None:
    """Alert intake, noise control, on-call: on when the config has alert sources or on-call
    schedules (the demo has both)."""
    config = loaded.config
    if not config.alerts.sources and not config.oncall.schedules:
        return None
    from opsroom.alerts.commands import ALERT_COMMANDS, HANDLERS
    from opsroom.alerts.http import routes
    from opsroom.alerts.service import AlertService
    from opsroom.integrations.oncall import OnCall

    if config.demo:
        # The demo's intake token, so `opsroom demo alert` can reach a running demo server.
        os.environ.setdefault("OPSROOM_DEMO_ALERT_TOKEN", "demo-alert-token")
    oncall = OnCall(config.oncall) if config.oncall.schedules else None
    service = AlertService(config.alerts, db, chat, mint=signer.mint, audit_append=audit.append,
                           oncall=oncall, channels=config_places(loaded, config.alerts.platform),
                           users=directory_users)
    specs = tuple(s for s in ALERT_COMMANDS if s.name != "query" or config.alerts.prometheus_url)

    def bind(handler: Any) -> ExtensionHandler:
        async def run(_engine: Any, inv: Invocation) -> Message | None:
            return await handler(service, inv)  # type: ignore[no-any-return]
        return run

    def action(kind: str, permission: str) -> ActionHandler:
        async def run(engine: Any, req: ActionRequest) -> Message | None:
            place = req.event.place
            decision = engine.authorize_action(req.principal, permission, {}, place)
            if not decision.allowed:
                await engine.audit_denied_click(req, permission, decision)
                return Message.plain(f"⛔ {decision.reason}", "denied")
            return await service.handle_action(kind, req.payload, req.principal, place)
        return run

    return Extension(
        name="alerts",
        specs=specs,
        handlers={spec.name: bind(HANDLERS[spec.name]) for spec in specs},
        permissions=(CommandSpec("alert.ack", summary="Click Ack or Runbook on an alert", builtin=True),
                     CommandSpec("alert.silence", summary="Click a Silence button on an alert", builtin=True)),
        routes=routes(service),
        services=[service],
        actions={"alert.ack": action("alert.ack", "alert.ack"),
                 "alert.silence": action("alert.silence", "alert.silence"),
                 "alert.runbook": action("alert.runbook", "alert.ack")},
    )




class ChangeReviewGuard:
    """Commands marked ``options: {change: required}`` need ``--change CHG…`` that the ticket
    provider confirms is approved and in its window; ``options: {not_from_chat: "…"}``
    commands are refused in chat with a pointer to the proper change process."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk

    async def check(self, engine: Any, inv: Invocation, decision: Any, run_id: int | None) -> Message | None:
        from opsroom.integrations.tickets.base import ChangeRefused
        from opsroom.integrations.tickets.change import review

        change_id = inv.flags.get("change")
        options = inv.command.options
        if not change_id and not options.get("change") and not options.get("not_from_chat"):
            return None
        place = inv.place
        try:
            change = await review(inv.command, change_id, self.desk.change_provider())
        except ChangeRefused as exc:
            with engine.db.begin() as conn:
                engine.audit.append(conn, actor=inv.principal.name, action="change.refused",
                                    command=inv.command.name, platform=place.platform, channel=place.name,
                                    summary=str(exc), detail={"change": change_id, "text": inv.raw_text})
            return Message.plain(f"⛔ {exc}", "denied")
        if change is not None:
            with engine.db.begin() as conn:
                engine.audit.append(conn, actor=inv.principal.name, action="change.accepted",
                                    command=inv.command.name, platform=place.platform, channel=place.name,
                                    summary=f"change {change_id} approved and in its window",
                                    detail={"change": change_id})
        return None


def tickets_extension(loaded: LoadedConfig, *, db: Database, chat: ChatHub, signer: ActionSigner,
                      audit: Any, directory_users: Any) -> Extension:
    """Ticketing is always on: the built-in store lives in opsroom's own database, so the
    embedded default has one; Jira, ServiceNow and GitHub Issues when configured."""
    from opsroom.integrations.tickets import hooks
    from opsroom.integrations.tickets.commands import TICKET_SPECS, ticket_handlers
    from opsroom.integrations.tickets.desk import build_desk

    desk = build_desk(loaded.config.tickets, db, public_url=loaded.config.server.public_url)
    hooks.register(desk)
    return Extension(name="tickets", specs=TICKET_SPECS, handlers=dict(ticket_handlers(desk)),
                     guards=[ChangeReviewGuard(desk)], engine_flags={"change": str})


def runner_providers_extension(loaded: LoadedConfig, **_: Any) -> Extension | None:
    """SSH, supervisord and Ansible runners need their config section: register them (and
    import their libraries) only when a command uses them."""
    used = {str((spec.get("runner") or {}).get("type", "")) for spec in loaded.config.commands.values()
            if isinstance(spec, dict)}
    settings = loaded.config.integrations
    if "ssh" in used:
        from opsroom.integrations import ssh

        ssh.register(settings.ssh)
    if "supervisor" in used:
        from opsroom.integrations import supervisor

        supervisor.register(settings.supervisor)
    if "ansible" in used:
        from opsroom.integrations import ansible

        ansible.register(settings.ansible)
    return None


EXTENSION_BUILDERS = (alerts_extension, tickets_extension, runner_providers_extension)
