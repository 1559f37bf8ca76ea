"""The composition root: turns a loaded config into a running system.

Everything that reads config and wires parts together lives here, so each part stays
ignorant of the others. Platform SDKs and providers are imported only when configured.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import structlog

from opsroom.actions import ActionSigner
from opsroom.chat.base import Adapter, ChatHub
from opsroom.cluster.leader import LeaderGate
from opsroom.cluster.membership import membership_of
from opsroom.config.loader import LoadedConfig
from opsroom.config.models import OpsroomConfig
from opsroom.core import ConfigError, Runner
from opsroom.directory import Directory
from opsroom.engine import Engine, EngineParts, Pipeline
from opsroom.engine.steps import CORE_STEPS
from opsroom.features import all_plugins
from opsroom.guardrails.holds import Guardrails
from opsroom.guardrails.private import PrivateAwareReporter
from opsroom.plugins import Declared, Extension, Live, PeriodicWork, Plugin, Service, declare_all
from opsroom.policy import redaction
from opsroom.policy.redaction import Redactor, build_redactor
from opsroom.policy.requirements import command_guards
from opsroom.reporter import Reporter
from opsroom.runs.registry import RunnerFactory, build_runner
from opsroom.runs.service import RunService
from opsroom.store import Database
from opsroom.store.state import resolve_sqlite, secret_key, state_dir

if TYPE_CHECKING:
    from opsroom.audit import AuditLog
    from opsroom.commands.catalog import Catalog

log = structlog.get_logger("opsroom.app")


def build_parts(loaded: LoadedConfig, declared: Declared, extensions: Sequence[Extension] = ()) -> EngineParts:
    """Catalog, policy, directory, pipeline and runners from config and what the plugins
    declared. Raises ConfigError (and refuses a policy that names unknown commands or
    arguments, or a runner that does not build); used by check and reload too. Needs no
    database: ``extensions`` (live handlers, hook actions) are only attached."""
    from opsroom.commands.catalog import Catalog
    from opsroom.commands.lists import ChoiceLists
    from opsroom.policy import PolicyEngine, check_policy

    config = loaded.config
    if config.demo:
        from opsroom.demo import setup as demo_setup

        demo_setup.prepare(loaded.base_dir)  # the demo's lists read its inventory file
    lists = ChoiceLists(config.lists, base_dir=loaded.base_dir)
    catalog = Catalog.from_config(config.commands, config.include, loaded.base_dir, lists, extra=declared.commands)
    known = {spec.name: spec for spec in catalog}
    known.update({spec.name: spec for spec in declared.permissions})
    problems = check_policy(config.policy, known, loaded.base_dir)
    if problems:
        raise ConfigError(f"{loaded.source}: policy: " + "\n".join(problems))
    policy = PolicyEngine.from_config(config.policy, config.users, loaded.base_dir)
    directory = Directory(config.users, config.guardrails.group_roles)
    for spec in catalog:  # guardrail options (confirm, approval, output) must be valid too
        command_guards(spec)
    return EngineParts(
        catalog=catalog,
        policy=policy,
        directory=directory,
        builtins={name: h for ext in extensions for name, h in ext.handlers.items()},
        pipeline=Pipeline.build(CORE_STEPS + declared.steps),
        engine_flags=declared.engine_flags,
        runners=(runners := build_runners(catalog, declared.runner_types)),
        actions={name: f for ext in extensions for name, f in ext.hook_actions.items()},
        # the runners ride along for the pre-flight step (guardrails/preflight.py)
        extras={"runs.runners": runners, **{key: value for ext in extensions for key, value in ext.extras.items()}},
        public_answers=frozenset(
            (c.platform, key)
            for c in config.channels
            if not c.private_answers
            for key in (c.id or c.name.lstrip("#"), "#" + c.name.lstrip("#"))
        ),
    )


def build_runners(catalog: Any, types: Mapping[str, RunnerFactory]) -> dict[str, Runner]:
    """One runner per catalog command, built (and its templates checked against the
    command's arguments) when the config loads, so a typo fails `opsroom check` and start-up
    rather than the first run."""
    from opsroom.runs.runners import check_runner_args

    runners: dict[str, Runner] = {}
    problems: list[str] = []
    for spec in catalog:
        if spec.runner is None:
            continue
        try:
            runner = build_runner(spec.runner, types)
            check_runner_args(runner, [a.name for a in spec.args])
            runners[spec.name] = runner
        except ConfigError as exc:
            problems.append(f"commands.{spec.name}.runner: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return runners


@dataclass
class System:
    loaded: LoadedConfig
    db: Database
    audit: AuditLog
    chat: ChatHub
    engine: Engine
    runs: RunService
    reporter: Reporter
    signer: ActionSigner
    redactor: Redactor
    http_routes: list[Any] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)  # things with async start()/stop()
    extensions: list[Extension] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)

    @property
    def config(self) -> OpsroomConfig:
        return self.loaded.config

    async def start(self) -> None:
        await self.chat.start(self.engine.handle)
        for service in self.services:
            await service.start()
        membership = membership_of(self.engine.parts.extras)
        if membership is None:
            await self.engine.recover()
        else:  # cluster: only dead replicas' runs, now and whenever the leader sweeps
            membership.recover = lambda only: self.engine.recover(only=only)
            await self.engine.recover(only=membership.orphaned())
        # Everything built so far (config, policy, routes, templates, compiled statements) lives
        # as long as the process: keep it out of the garbage collector's full passes, which
        # otherwise stall every request in flight for 40-100 ms (bench/webchat.py, dispatch.py).
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        await self.runs.shutdown()
        await self.chat.stop()

    def reload(self, loaded: LoadedConfig, actor: str) -> str:
        """Ask the plugins again for the new config and swap catalog, policy, users, pipeline
        and runners; the old ones stay on any error. So a config a fresh start accepts,
        reload accepts. Live parts (routes, services) stay as started: a feature first turned
        on by the new config gets its commands now and its services at the next start."""
        declared = declare_all(self.plugins, loaded)
        parts = build_parts(loaded, declared, self.extensions)
        changes = summarize_diff(self.loaded.config, loaded.config, self.engine.parts.catalog, parts.catalog)
        self.engine.parts = parts
        self.engine.guardrails.reconfigure(loaded.config.guardrails, loaded.config.channels)
        self.loaded = loaded
        with self.db.begin() as conn:
            self.audit.append(
                conn, actor=actor, action="config.reloaded", summary=changes, detail={"source": loaded.source}
            )
        return changes


def summarize_diff(
    old: OpsroomConfig, new: OpsroomConfig, old_catalog: Catalog | None = None, new_catalog: Catalog | None = None
) -> str:
    """What a reload changed, as ``opsroom reload`` prints it: "2 commands changed (added:
    ssh-uptime; changed: deploy); also changed: policy, users" or "no changes"."""
    changed = [name for name in OpsroomConfig.model_fields if getattr(old, name) != getattr(new, name)]
    said: list[str] = []
    if old_catalog is not None and new_catalog is not None:
        before, after = set(old_catalog.names()), set(new_catalog.names())
        groups = {
            "added": sorted(after - before),
            "removed": sorted(before - after),
            "changed": sorted(n for n in before & after if old_catalog.get(n) != new_catalog.get(n)),
        }
        count = sum(len(names) for names in groups.values())
        if count:
            detail = "; ".join(f"{what}: {', '.join(names)}" for what, names in groups.items() if names)
            said.append(f"{count} command{'s' if count != 1 else ''} changed ({detail})")
            changed = [name for name in changed if name != "commands"]  # said just above, in detail
    if changed:
        said.append(("also changed: " if said else "changed: ") + ", ".join(changed))
    return "; ".join(said) or "no changes"


def build_system(
    loaded: LoadedConfig,
    *,
    adapters: list[Adapter] | None = None,
    database_url: str | None = None,
    edit_interval: float = 1.0,
    plugins: Sequence[Plugin] | None = None,
    migrate_apart: bool = False,
) -> System:
    """The composition root: every plugin declared and started, the engine built whole.
    ``migrate_apart``: a schema upgrade runs in a child process (``opsroom run``; store.db.open)."""
    from opsroom.audit import AuditLog

    config = loaded.config
    plugins = list(all_plugins() if plugins is None else plugins)
    declared = declare_all(plugins, loaded)  # first: a bad config fails before anything opens
    url = database_url or config.database.url
    db = Database.open(
        resolve_sqlite(url, loaded.base_dir),
        apart=migrate_apart,
        sqlite_synchronous=config.database.sqlite_synchronous,
    )
    redactor = build_redactor(config)
    redaction.install(redactor)  # opsroom's own log lines too (opsroom.logs)
    audit = AuditLog(db, timezone=config.audit.timezone, redactor=redactor)
    folder = state_dir(url, loaded.base_dir)
    signer = ActionSigner(secret_key(config, folder))
    chat = ChatHub(redactor, public_url=str(config.server.public_url or ""))
    for adapter in adapters or []:
        chat.add(adapter)
    runs = RunService(db, audit, redact=redactor.redact)
    users = {p.name: p for p in Directory(config.users, config.guardrails.group_roles)}
    built: list[Engine] = []  # filled below: live parts reach the engine once it exists
    gate = LeaderGate()  # the cluster plugin gives it its lease; single mode: always leads
    live = Live(db=db, chat=chat, signer=signer, audit=audit, users=users, host=lambda: built[0], leads=gate)
    extensions = [
        plugin.start(loaded, live) for plugin in plugins if plugin.start is not None and plugin.name in declared.names
    ]
    parts = build_parts(loaded, declared, extensions)
    reporter = PrivateAwareReporter(chat, signer.mint, edit_interval=edit_interval)
    engine = Engine(
        db=db,
        audit=audit,
        chat=chat,
        parts=parts,
        signer=signer,
        runs=runs,
        reporter=reporter,
        redactor=redactor.redact,
        demo=config.demo,
        public_url=config.server.public_url,
        guardrails=lambda host: Guardrails(config.guardrails, host, channels=config.channels),
        actions={kind: h for ext in extensions for kind, h in ext.actions.items()},
    )
    reporter.on_finished = engine.on_run_finished
    engine.guardrails.leads = gate  # approval expiry: once per cluster
    live.periodic["approval-expiry"] = PeriodicWork(config.guardrails.sweep_interval, engine.guardrails.expire_due)
    built.append(engine)
    if not parts.policy.configured:
        log.warning("no_policy", hint="no policy is configured: everyone may run every command")
    return System(
        loaded,
        db,
        audit,
        chat,
        engine,
        runs,
        reporter,
        signer,
        redactor,
        http_routes=[r for ext in extensions for r in ext.routes],
        # the guardrails sweep expired approvals; they start last
        services=[s for ext in extensions for s in ext.services] + [engine.guardrails],
        extensions=extensions,
        plugins=plugins,
    )


def declared_parts(loaded: LoadedConfig) -> EngineParts:
    """What the plugins declare for ``loaded``, built into catalog, policy, pipeline and
    runners: no database, no live service (the same parts a start or reload builds)."""
    return build_parts(loaded, declare_all(all_plugins(), loaded))


def build_adapters(loaded: LoadedConfig, plugins: Sequence[Plugin] | None = None) -> list[Adapter]:
    """The chat adapters the config asks for; each platform module imported only if used."""
    declared = declare_all(all_plugins() if plugins is None else plugins, loaded)
    built = (factory(loaded) for factory in declared.adapters.values())
    return [adapter for adapter in built if adapter is not None]
