"""The composition root: turns a loaded config into a running system.

Everything that reads config and wires parts together lives here, so each part stays
ignorant of the others. Platform SDKs and providers are imported only when configured.
"""

from __future__ import annotations

import functools
import gc
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import structlog

from opsroom.actions import ActionSigner
from opsroom.builtins import BUILTIN_HANDLERS, BUILTIN_SPECS, PERMISSION_SPECS
from opsroom.chat.base import Adapter, ChatHub
from opsroom.config.loader import LoadedConfig
from opsroom.config.models import OpsroomConfig
from opsroom.core import ConfigError
from opsroom.directory import Directory
from opsroom.engine import Engine, EngineParts
from opsroom.policy.guards import Guardrails
from opsroom.policy.private import PrivateAwareReporter
from opsroom.policy.redaction import Redactor, build_redactor
from opsroom.policy.requirements import command_guards
from opsroom.reporter import Reporter
from opsroom.runs.service import RunService
from opsroom.store import Database
from opsroom.wiring import EXTENSION_BUILDERS, Extension

log = structlog.get_logger("opsroom.app")


def secret_key(config: OpsroomConfig, state_dir: Path) -> bytes:
    """The key that signs buttons and sessions: OPSROOM_SECRET_KEY, else one generated once
    and kept next to the database so buttons survive a restart."""
    if config.server.secret_key:
        return config.server.secret_key.encode()
    path = state_dir / ".opsroom-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def build_parts(loaded: LoadedConfig, extensions: Sequence[Extension] = ()) -> EngineParts:
    """Catalog, policy and directory from config. Raises ConfigError (and refuses a policy
    that names unknown commands or arguments); used by reload too."""
    from opsroom.commands.catalog import Catalog
    from opsroom.commands.lists import ChoiceLists
    from opsroom.policy import PolicyEngine, check_policy

    config = loaded.config
    if config.demo:
        from opsroom.demo import setup as demo_setup

        demo_setup.prepare(loaded.base_dir)  # the demo's lists read its inventory file
    lists = ChoiceLists(config.lists, base_dir=loaded.base_dir)
    extra_specs = tuple(spec for ext in extensions for spec in ext.specs)
    catalog = Catalog.from_config(config.commands, config.include, loaded.base_dir, lists,
                                  extra=BUILTIN_SPECS + extra_specs)
    known = {spec.name: spec for spec in catalog}
    known.update({spec.name: spec for spec in PERMISSION_SPECS})
    known.update({spec.name: spec for ext in extensions for spec in ext.permissions})
    problems = check_policy(config.policy, known, loaded.base_dir)
    if problems:
        raise ConfigError(f"{loaded.source}: policy: " + "\n".join(problems))
    policy = PolicyEngine.from_config(config.policy, config.users, loaded.base_dir)
    directory = Directory(config.users, config.guardrails.group_roles)
    for spec in catalog:  # guardrail options (confirm, approval, output) must be valid too
        command_guards(spec)
    handlers: dict[str, Any] = dict(BUILTIN_HANDLERS)
    for ext in extensions:
        handlers.update(ext.handlers)
    return EngineParts(catalog=catalog, policy=policy, directory=directory, builtins=handlers)


def import_providers(catalog: Any) -> None:
    """Import the runner/action providers the catalog uses (and the built-in runners)."""
    import opsroom.runs.runners  # noqa: F401  (exec, http, python)
    from opsroom.runs.registry import runner_types

    wanted = {spec.runner.type for spec in catalog if spec.runner is not None}
    for type_name in wanted - set(runner_types()):
        module = PROVIDER_MODULES.get(type_name)
        if module:
            __import__(module)


# Runner type -> module that registers it (imported only when a command uses it).
PROVIDER_MODULES: dict[str, str] = {
    "github_actions": "opsroom.integrations.cicd",
    "gitlab": "opsroom.integrations.cicd",
    "jenkins": "opsroom.integrations.cicd",
    "argocd": "opsroom.integrations.cicd",
    "kubernetes": "opsroom.integrations.k8s",
}


def build_runners(catalog: Any) -> dict[str, Any]:
    """One runner per catalog command, built (and its templates checked against the
    command's arguments) when the config loads, so a typo fails `opsroom check` and start-up
    rather than the first run."""
    from opsroom.runs.registry import build_runner
    from opsroom.runs.runners import check_runner_args

    import_providers(catalog)
    runners: dict[str, Any] = {}
    problems: list[str] = []
    for spec in catalog:
        if spec.runner is None:
            continue
        try:
            runner = build_runner(spec.runner)
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
    audit: Any
    chat: ChatHub
    engine: Engine
    runs: RunService
    reporter: Reporter
    signer: ActionSigner
    redactor: Redactor
    http_routes: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)  # things with async start()/stop()
    extensions: list[Extension] = field(default_factory=list)

    @property
    def config(self) -> OpsroomConfig:
        return self.loaded.config

    async def start(self) -> None:
        await self.chat.start(self.engine.handle)
        for service in self.services:
            await service.start()
        await self.engine.recover()
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
        """Swap catalog, policy and users for a new config; the old one stays on any error."""
        parts = build_parts(loaded, self.extensions)
        runners = build_runners(parts.catalog)
        old = self.loaded.config
        changes = summarize_diff(old, loaded.config)
        self.engine.parts = parts
        if self.engine.guardrails is not None:
            self.engine.guardrails.reconfigure(loaded.config.guardrails, loaded.config.channels)
        self.engine.runners = runners
        self.loaded = loaded
        with self.db.begin() as conn:
            self.audit.append(conn, actor=actor, action="config.reloaded", summary=changes,
                              detail={"source": loaded.source})
        return changes


def summarize_diff(old: OpsroomConfig, new: OpsroomConfig) -> str:
    changed = [name for name in OpsroomConfig.model_fields
               if getattr(old, name) != getattr(new, name)]
    return "no changes" if not changed else "changed: " + ", ".join(changed)


def build_system(loaded: LoadedConfig, *, adapters: list[Adapter] | None = None,
                 database_url: str | None = None, edit_interval: float = 1.0) -> System:
    from opsroom.audit import AuditLog

    config = loaded.config
    url = database_url or config.database.url
    db = Database.open(_resolve_sqlite(url, loaded.base_dir), sqlite_synchronous=config.database.sqlite_synchronous)
    audit = AuditLog(db, timezone=config.audit.timezone)
    redactor = build_redactor(config)
    state_dir = _state_dir(url, loaded.base_dir)
    signer = ActionSigner(secret_key(config, state_dir))
    chat = ChatHub()
    for adapter in adapters or []:
        chat.add(adapter)
    runs = RunService(db, audit, redact=redactor.redact)
    users = {p.name: p for p in Directory(config.users, config.guardrails.group_roles)}
    extensions = [ext for builder in EXTENSION_BUILDERS
                  if (ext := builder(loaded, db=db, chat=chat, signer=signer, audit=audit,
                                     directory_users=users)) is not None]
    parts = build_parts(loaded, extensions)
    runners = build_runners(parts.catalog)
    reporter = PrivateAwareReporter(chat, signer.mint, edit_interval=edit_interval)
    engine = Engine(db=db, audit=audit, chat=chat, parts=parts, signer=signer, runs=runs,
                    reporter=reporter, redactor=redactor.redact, demo=config.demo)
    engine.runners = runners
    engine.public_url = config.server.public_url
    reporter.on_finished = engine.on_run_finished
    guardrails = Guardrails(config.guardrails, channels=config.channels)
    guardrails.install(engine)
    if not parts.policy.configured:
        log.warning("no_policy", hint="no policy is configured: everyone may run every command")
    system = System(loaded, db, audit, chat, engine, runs, reporter, signer, redactor)
    for ext in extensions:
        system.extensions.append(ext)
        system.http_routes.extend(ext.routes)
        system.services.extend(ext.services)
        for kind, handler in ext.actions.items():
            engine.actions.register(kind, functools.partial(handler, engine))
        engine.guards[:0] = ext.guards
        engine.engine_flags.update(ext.engine_flags)
    system.services.append(guardrails)  # sweeps expired approvals; runs once at start
    return system


def _resolve_sqlite(url: str, base_dir: Path) -> str:
    """Relative SQLite paths are relative to the config file's folder (cwd for the demo)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///"):]
        if rel and rel != ":memory:" and not os.path.isabs(rel):
            return "sqlite:///" + str((base_dir / rel).resolve())
    return url


def _state_dir(url: str, base_dir: Path) -> Path:
    if url.startswith("sqlite:///"):
        path = Path(_resolve_sqlite(url, base_dir)[len("sqlite:///"):])
        if str(path) != ":memory:":
            return path.parent
    return base_dir


def build_adapters(loaded: LoadedConfig) -> list[Adapter]:
    """The chat adapters the config asks for; each platform module imported only if used."""
    built = (factory(loaded) for factory in ADAPTER_FACTORIES.values())
    return [adapter for adapter in built if adapter is not None]


def _slack_adapter(loaded: LoadedConfig) -> Adapter | None:
    slack = loaded.config.chat.slack
    if not (slack and slack.enabled):
        return None
    from opsroom.chat.slack import build_slack_adapter  # imports slack_bolt: only when configured

    return build_slack_adapter(loaded)


def _mattermost_adapter(loaded: LoadedConfig) -> Adapter | None:
    mattermost = loaded.config.chat.mattermost
    if not (mattermost and mattermost.enabled):
        return None
    from opsroom.chat.mattermost import build_mattermost_adapter

    key = secret_key(loaded.config, _state_dir(loaded.config.database.url, loaded.base_dir))
    return build_mattermost_adapter(loaded, signing_key=key)


# Platform name -> a function returning that platform's adapter, or None when not configured.
ADAPTER_FACTORIES: dict[str, Callable[[LoadedConfig], Adapter | None]] = {
    "slack": _slack_adapter,
    "mattermost": _mattermost_adapter,
}


def _web_adapter(loaded: LoadedConfig) -> Adapter | None:
    from opsroom.chat.web import build_web_adapter

    return build_web_adapter(loaded)


ADAPTER_FACTORIES["web"] = _web_adapter  # the built-in web chat: on unless chat.web.enabled is false
