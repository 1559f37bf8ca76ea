"""opsroom's own features as plugins (``opsroom.plugins``): built-in commands, guardrails,
runners and integrations, alerts and on-call, tickets, chat adapters.

Each is a ``Plugin``: a side-effect-free ``declare`` (commands, permissions, runner types,
pipeline steps, engine flags, adapters) and a ``start`` for the live parts. Providers and
platform SDKs are imported only inside factories and start steps, so a config that does not
use them never loads them.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from opsroom.actions import ActionRequest
from opsroom.config.loader import LoadedConfig, config_places
from opsroom.core import CommandSpec, Invocation, Message, Runner, RunnerSpec
from opsroom.desk.plugin import plugin as desk_plugin
from opsroom.engine.pipeline import Step, StepContext, Stop
from opsroom.incidents import plugin as _incidents
from opsroom.integrations.cloud.plugin import AWS_PLUGIN
from opsroom.integrations.sql.plugin import SQL_PLUGIN
from opsroom.integrations.tickets.desk import EXTRAS_KEY as TICKET_DESK_KEY
from opsroom.plugins import (
    ActionHandler,
    AdapterFactory,
    CommandHandler,
    Declaration,
    Extension,
    Live,
    PeriodicWork,
    Plugin,
    declare_all,
    discover,
)
from opsroom.runbooks import plugin as _runbooks
from opsroom.runs import registry
from opsroom.runs.registry import RunnerFactory

if TYPE_CHECKING:
    from opsroom.alerts.service import AlertService
    from opsroom.builtins import CommandHost
    from opsroom.chat.base import Adapter


# -- built-in commands and guardrails ------------------------------------------------------------
def _builtins_declare(loaded: LoadedConfig) -> Declaration:
    from opsroom.builtins import BUILTIN_SPECS, PERMISSION_SPECS

    return Declaration(commands=BUILTIN_SPECS, permissions=PERMISSION_SPECS)


def _builtins_start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.builtins import BUILTIN_HANDLERS

    return Extension(name="builtins", handlers=dict(BUILTIN_HANDLERS))


def _guardrails_declare(loaded: LoadedConfig) -> Declaration:
    from opsroom.guardrails.commands import GUARDRAIL_SPECS
    from opsroom.guardrails.preflight import STEP as PREFLIGHT

    return Declaration(commands=GUARDRAIL_SPECS, engine_flags={"break-glass": str}, steps=(PREFLIGHT,))


def _guardrails_start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.guardrails.commands import GUARDRAIL_HANDLERS

    def button(kind: str) -> ActionHandler:
        async def run(engine: CommandHost, req: ActionRequest) -> Message | None:
            return await engine.guardrails.actions()[kind](req)

        return run

    kinds = ("approval.approve", "approval.deny", "run.confirm")
    return Extension(
        name="guardrails", handlers=dict(GUARDRAIL_HANDLERS), actions={kind: button(kind) for kind in kinds}
    )


# -- runners -------------------------------------------------------------------------------------
def _runners_declare(loaded: LoadedConfig) -> Declaration:
    from opsroom.runs.runners import RUNNER_TYPES

    return Declaration(runner_types=RUNNER_TYPES)


def _settings_runner(type_name: str, module: str) -> Plugin:
    """SSH, supervisord, Ansible: one runner type built with its ``integrations.<type>``
    settings; the module (and its library) is imported at the first runner built."""

    def declare(loaded: LoadedConfig) -> Declaration:
        settings = getattr(loaded.config.integrations, type_name)

        def factory(options: Mapping[str, Any]) -> Runner:
            built: Runner = __import__(module, fromlist=["build"]).build(options, settings)
            return built

        return Declaration(runner_types={type_name: factory})

    return Plugin(type_name, declare)


def _lazy_types(names: tuple[str, ...], module: str) -> dict[str, RunnerFactory]:
    def factory_for(name: str) -> RunnerFactory:
        def factory(options: Mapping[str, Any]) -> Runner:
            built: Runner = __import__(module, fromlist=["RUNNER_TYPES"]).RUNNER_TYPES[name](options)
            return built

        return factory

    return {name: factory_for(name) for name in names}


def _cicd_declare(loaded: LoadedConfig) -> Declaration:
    names = ("github_actions", "gitlab", "jenkins", "argocd")
    return Declaration(runner_types=_lazy_types(names, "opsroom.integrations.cicd"))


def _kubernetes_declare(loaded: LoadedConfig) -> Declaration:
    return Declaration(runner_types=_lazy_types(("kubernetes",), "opsroom.integrations.k8s"))


# -- chat adapters ---------------------------------------------------------------------------------
def _adapter_plugin(platform: str, factory: AdapterFactory) -> Plugin:
    return Plugin(f"chat.{platform}", lambda loaded: Declaration(adapters={platform: factory}))


def _web_adapter(loaded: LoadedConfig) -> Adapter | None:
    from opsroom.chat.web import build_web_adapter  # on unless chat.web.enabled is false

    return build_web_adapter(loaded)


def _slack_adapter(loaded: LoadedConfig) -> Adapter | None:
    slack = loaded.config.chat.slack
    if not (slack and slack.enabled):
        return None
    from opsroom.chat.slack import build_slack_adapter  # imports slack_bolt: only when configured

    return build_slack_adapter(loaded)


def _slack_start(loaded: LoadedConfig, live: Live) -> Extension:
    """Multi-workspace Slack keeps its installations in opsroom's database: hand it over."""
    adapter = live.chat.adapters.get("slack")
    bind = getattr(adapter, "bind_store", None)
    if bind is not None:
        from opsroom.store.state import secret_key, state_dir

        bind(live.db, live.audit, secret_key(loaded.config, state_dir(loaded.config.database.url, loaded.base_dir)))
    return Extension(name="chat.slack")


def _mattermost_adapter(loaded: LoadedConfig) -> Adapter | None:
    mattermost = loaded.config.chat.mattermost
    if not (mattermost and mattermost.enabled):
        return None
    from opsroom.chat.mattermost import build_mattermost_adapter
    from opsroom.store.state import secret_key, state_dir

    key = secret_key(loaded.config, state_dir(loaded.config.database.url, loaded.base_dir))
    return build_mattermost_adapter(loaded, signing_key=key)


def _matrix_adapter(loaded: LoadedConfig) -> Adapter | None:
    matrix = loaded.config.chat.matrix
    if not (matrix and matrix.enabled):
        return None
    from opsroom.chat.matrix import build_matrix_adapter  # imports nio: only when configured
    from opsroom.store.state import state_dir

    return build_matrix_adapter(loaded, state_dir=state_dir(loaded.config.database.url, loaded.base_dir))


def _teams_adapter(loaded: LoadedConfig) -> Adapter | None:
    teams = loaded.config.chat.teams
    if not (teams and teams.enabled):
        return None
    from opsroom.chat.teams import build_teams_adapter  # imports the Agents SDK: only when configured
    from opsroom.store.state import secret_key, state_dir

    folder = state_dir(loaded.config.database.url, loaded.base_dir)
    return build_teams_adapter(loaded, state_dir=folder, signing_key=secret_key(loaded.config, folder))


# -- alerts and on-call ---------------------------------------------------------------------------
def _alerts_on(loaded: LoadedConfig) -> bool:
    """On when the config has alert sources or on-call schedules (the demo has both)."""
    return bool(loaded.config.alerts.sources or loaded.config.oncall.schedules)


def _alert_specs(loaded: LoadedConfig) -> tuple[CommandSpec, ...]:
    from opsroom.alerts.commands import ALERT_COMMANDS

    return tuple(s for s in ALERT_COMMANDS if s.name != "query" or loaded.config.alerts.prometheus_url)


def _alerts_declare(loaded: LoadedConfig) -> Declaration | None:
    if not _alerts_on(loaded):
        return None
    return Declaration(
        commands=_alert_specs(loaded),
        permissions=(
            CommandSpec("alert.ack", summary="Click Ack or Runbook on an alert", builtin=True),
            CommandSpec("alert.silence", summary="Click a Silence button on an alert", builtin=True),
        ),
    )


def _alerts_start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.alerts.commands import HANDLERS
    from opsroom.alerts.http import routes
    from opsroom.alerts.service import AlertService
    from opsroom.integrations.oncall import OnCall

    config = loaded.config
    if config.demo:
        # The demo's intake token, so `opsroom demo alert` can reach a running demo server.
        os.environ.setdefault("OPSROOM_DEMO_ALERT_TOKEN", "demo-alert-token")
    oncall = OnCall(config.oncall) if config.oncall.schedules else None
    service = AlertService(
        config.alerts,
        live.db,
        live.chat,
        mint=live.signer.mint,
        audit_append=live.audit.append,
        oncall=oncall,
        channels=config_places(loaded, config.alerts.platform),
        users=live.users,
    )
    service.leads = live.leads  # cluster mode: the leader posts and escalates alerts
    live.periodic["alert-timers"] = PeriodicWork(config.alerts.tick, service.tick_at)

    def bind(handler: Callable[[AlertService, Invocation], Awaitable[Message | None]]) -> CommandHandler:
        async def run(_engine: CommandHost, inv: Invocation) -> Message | None:
            return await handler(service, inv)

        return run

    def action(kind: str, permission: str) -> ActionHandler:
        async def run(engine: CommandHost, req: ActionRequest) -> Message | None:
            place = req.event.place
            decision = engine.authorize_action(req.principal, permission, {}, place)
            if not decision.allowed:
                await engine.audit_denied_click(req, permission, decision)
                return Message.plain(f"⛔ {decision.reason}", "denied")
            return await service.handle_action(kind, req.payload, req.principal, place)

        return run

    return Extension(
        name="alerts",
        handlers={spec.name: bind(HANDLERS[spec.name]) for spec in _alert_specs(loaded)},
        routes=routes(service),
        services=[service],
        actions={
            "alert.ack": action("alert.ack", "alert.ack"),
            "alert.silence": action("alert.silence", "alert.silence"),
            "alert.runbook": action("alert.runbook", "alert.ack"),
        },
    )


# -- tickets -------------------------------------------------------------------------------------
DESK = TICKET_DESK_KEY  # the key of the ticket desk in Services.extras


async def change_review(ctx: StepContext) -> Stop | None:
    """Commands marked ``options: {change: required}`` need ``--change CHG…`` that the ticket
    provider confirms is approved and in its window; ``options: {not_from_chat: "…"}``
    commands are refused in chat with a pointer to the proper change process."""
    inv = ctx.invocation
    change_id = inv.flags.get("change")
    options = inv.command.options
    if not change_id and not options.get("change") and not options.get("not_from_chat"):
        return None  # most commands: before the imports, which cost a look-up each on every command
    from opsroom.integrations.tickets.base import ChangeRefused
    from opsroom.integrations.tickets.change import review

    desk = ctx.services.extras.get(DESK)
    if desk is None and change_id:  # an offline check cannot ask the ticket system
        ctx.notes.append(f"change {change_id}: not checked with the ticket system (offline)")
        return None
    try:
        change = await review(inv.command, change_id, desk.change_provider() if desk is not None else None)
    except ChangeRefused as exc:
        record = ctx.record(
            "change.refused", str(exc), detail={"change": change_id, "text": ctx.services.redact(inv.shown_text())}
        )
        return Stop("deny", f"⛔ {exc}", "denied", (record,))
    if change is not None:
        ctx.trail.append(
            ctx.record(
                "change.accepted", f"change {change_id} approved and in its window", detail={"change": change_id}
            )
        )
    return None


def _tickets_declare(loaded: LoadedConfig) -> Declaration:
    """Ticketing is always on: the built-in store lives in opsroom's own database."""
    from opsroom.integrations.tickets.commands import TICKET_SPECS

    return Declaration(
        commands=TICKET_SPECS, steps=(Step("change review", change_review),), engine_flags={"change": str}
    )


def _tickets_start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.integrations.tickets import hooks
    from opsroom.integrations.tickets.commands import ticket_handlers
    from opsroom.integrations.tickets.desk import build_desk

    desk = build_desk(loaded.config.tickets, live.db, public_url=loaded.config.server.public_url)
    return Extension(
        name="tickets", handlers=dict(ticket_handlers(desk)), hook_actions=hooks.hook_actions(desk), extras={DESK: desk}
    )


# -- cluster mode --------------------------------------------------------------------------------
def _cluster_declare(loaded: LoadedConfig) -> Declaration | None:
    return Declaration() if loaded.config.cluster.enabled else None


def _cluster_start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.cluster.leader import LeaderGate
    from opsroom.cluster.membership import Membership
    from opsroom.cluster.pace import SharedPace
    from opsroom.cluster.singletons import Singletons, singleton_adapters

    membership = Membership(loaded.config.cluster, live.db)
    if isinstance(live.leads, LeaderGate):  # periodic work follows the sweeper lease
        live.leads.lease = membership.lease
    services: list[Any] = [
        membership,
        # the Mattermost socket and Matrix sync: open on the replica holding their lease only
        Singletons(loaded.config.cluster, live.db, singleton_adapters(live.chat.adapters)),
    ]
    for adapter in live.chat.adapters.values():  # one chat rate budget per channel, not per replica
        outbox = getattr(adapter, "outbox", None)
        if outbox is not None:
            outbox.pacer.shared = SharedPace(live.db, adapter.name).reserve
    if loaded.config.cluster.jobs == "procrastinate":  # runs go to any replica's worker
        from opsroom.cluster.jobs import RunQueue

        if isinstance(live.leads, LeaderGate):  # periodic work: Procrastinate periodic jobs, not loops
            live.leads.queued = True
        queue = RunQueue(
            live.db,
            live.host,
            lambda: membership.lease.held,  # the leader re-defers lost jobs
            membership.alive,
            every_s=loaded.config.cluster.heartbeat_s,
            periodic=live.periodic,
        )
        membership.shareable = queue.shareable
        services.append(queue)
    from opsroom.cluster.fanout import ChatFanout

    # web chat messages stored by one replica shown live by all, and cancels sent to the
    # replica running the run (LISTEN/NOTIFY)
    services.append(ChatFanout(live.db, live.chat.adapters.get("web"), host=live.host))
    return Extension(name="cluster", services=services, extras={"cluster": membership})


DEFAULT_PLUGINS: tuple[Plugin, ...] = (
    Plugin("builtins", _builtins_declare, _builtins_start),
    Plugin("guardrails", _guardrails_declare, _guardrails_start),
    Plugin("runners", _runners_declare),
    _settings_runner("ssh", "opsroom.integrations.ssh"),
    _settings_runner("supervisor", "opsroom.integrations.supervisor"),
    _settings_runner("ansible", "opsroom.integrations.ansible"),
    Plugin("cicd", _cicd_declare),
    Plugin("kubernetes", _kubernetes_declare),
    Plugin("alerts", _alerts_declare, _alerts_start),
    Plugin("tickets", _tickets_declare, _tickets_start),
    desk_plugin,
    Plugin("incidents", _incidents.declare, _incidents.start),
    Plugin("runbooks", _runbooks.declare, _runbooks.start),
    Plugin("cluster", _cluster_declare, _cluster_start),
    AWS_PLUGIN,
    SQL_PLUGIN,
    Plugin("chat.slack", lambda loaded: Declaration(adapters={"slack": _slack_adapter}), _slack_start),
    _adapter_plugin("mattermost", _mattermost_adapter),
    _adapter_plugin("matrix", _matrix_adapter),
    _adapter_plugin("teams", _teams_adapter),
    _adapter_plugin("web", _web_adapter),
)


def all_plugins() -> list[Plugin]:
    """opsroom's own features, then third parties' (the ``opsroom.plugins`` entry points)."""
    return [*DEFAULT_PLUGINS, *discover()]


def build_runner(spec: RunnerSpec, loaded: LoadedConfig | None = None) -> Runner:
    """A runner for ``spec`` from the runner types the plugins declare for ``loaded`` (the
    bundled demo when None): for tests and tools that need one runner outside a system."""
    from opsroom.config.loader import load_or_demo

    declared = declare_all(all_plugins(), loaded or load_or_demo(None))
    return registry.build_runner(spec, declared.runner_types)


def runner_types(loaded: LoadedConfig | None = None) -> list[str]:
    from opsroom.config.loader import load_or_demo

    return sorted(declare_all(all_plugins(), loaded or load_or_demo(None)).runner_types)
