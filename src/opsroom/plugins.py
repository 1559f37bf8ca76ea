"""The plugin contract: every feature of opsroom — and any third party's — is a ``Plugin``.

A plugin has two steps:

- ``declare(loaded) -> Declaration | None``: side-effect free. What the feature adds for this
  config: commands, permissions (button clicks policy checks), runner types, pipeline steps,
  engine flags, chat adapters. None: the feature is off for this config. ``opsroom check``,
  ``opsroom policy check`` and reload only ever call this.
- ``start(loaded, live) -> Extension``: the live parts, built once per process: command
  handlers, HTTP routes, background services, button handlers, hook actions, and helpers the
  plugin's own steps read (``Services.extras``).

opsroom's own features are plugins in ``opsroom.features.DEFAULT_PLUGINS``; third-party plugins come through
the ``opsroom.plugins`` entry-point group (an entry point names a ``Plugin`` object). The
composition root (``opsroom.app``) asks every plugin, builds the system whole and never
changes it afterwards; reload asks the plugins again and swaps what they declared.
See docs/plugins.md for a worked example.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opsroom.actions import ActionRequest, ActionSigner
from opsroom.chat.base import Adapter, ChatHub
from opsroom.config.loader import LoadedConfig
from opsroom.core import CommandSpec, ConfigError, Invocation, Message, Principal
from opsroom.engine.pipeline import Step
from opsroom.runs.registry import ActionFactory, RunnerFactory
from opsroom.store import Database

if TYPE_CHECKING:
    from opsroom.audit import AuditLog
    from opsroom.builtins import CommandHost
    from opsroom.engine.core import Engine

ENTRY_POINT_GROUP = "opsroom.plugins"

# (host, invocation) -> the answer to post, or None when the handler answered itself. The
# host is the engine, typed by what a handler may use (``opsroom.builtins.CommandHost``).
CommandHandler = Callable[["CommandHost", Invocation], Awaitable[Message | None]]
ActionHandler = Callable[["CommandHost", ActionRequest], Awaitable[Message | None]]
AdapterFactory = Callable[[LoadedConfig], Adapter | None]


def _not_built() -> Engine:
    raise RuntimeError("the engine is not built yet: call Live.host() after start, not during it")


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Declaration:
    """What a plugin adds for one config; computed without side effects."""

    commands: tuple[CommandSpec, ...] = ()
    permissions: tuple[CommandSpec, ...] = ()  # policy actions that are not typed commands
    runner_types: Mapping[str, RunnerFactory] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()  # pipeline steps, each in its slot (engine.pipeline.ORDER)
    engine_flags: Mapping[str, type] = field(default_factory=dict)  # e.g. {"change": str}
    adapters: Mapping[str, AdapterFactory] = field(default_factory=dict)  # platform -> factory


@dataclass
class Extension:
    """The live parts a plugin's start step returns (the shape features had before plugins,
    so an ``Extension`` ports as it is)."""

    name: str
    handlers: dict[str, CommandHandler] = field(default_factory=dict)  # command name -> handler
    routes: list[Any] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)  # things with async start()/stop()
    actions: dict[str, ActionHandler] = field(default_factory=dict)  # button kind -> handler
    hook_actions: dict[str, ActionFactory] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # read by the plugin's own steps


@dataclass(frozen=True)
class PeriodicWork:
    """Once-per-cluster periodic work: ``run(now)`` does what is due at ``now``, read from the
    database, so a late or repeated call is still right. Its service's own loop calls it while
    ``Live.leads()``; with ``cluster.jobs: procrastinate`` a periodic job per item calls it with
    the job's own timestamp instead (cluster/periodic.py)."""

    every_s: float
    run: Callable[[dt.datetime], Awaitable[object]]


@dataclass(frozen=True)
class Live:
    """What a start step may use."""

    db: Database
    chat: ChatHub
    signer: ActionSigner
    audit: AuditLog
    users: Mapping[str, Principal]
    # The engine once the system is built (``CommandHost``), for live parts that hand commands
    # to the pipeline later, e.g. a runbook's automatic steps; calling it during start fails.
    host: Callable[[], Engine] = field(default=lambda: _not_built())
    # Whether this process does once-per-cluster periodic work now (cluster/leader.LeaderGate):
    # always True in single mode; a periodic service checks it at each tick.
    leads: Callable[[], bool] = field(default=lambda: True)
    # The periodic work of the started plugins, by name (PeriodicWork); filled during start.
    periodic: dict[str, PeriodicWork] = field(default_factory=dict)


@dataclass(frozen=True)
class Plugin:
    name: str
    declare: Callable[[LoadedConfig], Declaration | None]
    start: Callable[[LoadedConfig, Live], Extension] | None = None


@dataclass(frozen=True)
class Declared:
    """Every plugin's declaration for one config, merged."""

    names: tuple[str, ...]
    commands: tuple[CommandSpec, ...]
    permissions: tuple[CommandSpec, ...]
    runner_types: Mapping[str, RunnerFactory]
    steps: tuple[Step, ...]
    engine_flags: Mapping[str, type]
    adapters: Mapping[str, AdapterFactory]


def declare_all(plugins: Sequence[Plugin], loaded: LoadedConfig) -> Declared:
    """Ask every plugin what it adds for ``loaded``; two plugins may not claim one name."""
    names: list[str] = []
    commands: list[CommandSpec] = []
    permissions: list[CommandSpec] = []
    runner_types: dict[str, RunnerFactory] = {}
    steps: list[Step] = []
    flags: dict[str, type] = {"dry-run": bool}
    adapters: dict[str, AdapterFactory] = {}
    for plugin in plugins:
        declared = plugin.declare(loaded)
        if declared is None:
            continue
        names.append(plugin.name)
        _no_clash(plugin.name, "runner type", declared.runner_types, runner_types)
        _no_clash(plugin.name, "chat adapter", declared.adapters, adapters)
        runner_types.update(declared.runner_types)
        adapters.update(declared.adapters)
        commands.extend(declared.commands)
        permissions.extend(declared.permissions)
        steps.extend(declared.steps)
        flags.update(declared.engine_flags)
    return Declared(tuple(names), tuple(commands), tuple(permissions), runner_types, tuple(steps), flags, adapters)


def _no_clash(plugin: str, kind: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> None:
    clash = sorted(set(mine) & set(theirs))
    if clash:
        raise ConfigError(f"plugin {plugin}: {kind} {clash[0]!r} is declared by another plugin too")


def discover(group: str = ENTRY_POINT_GROUP) -> list[Plugin]:
    """Third-party plugins: every ``opsroom.plugins`` entry point names a ``Plugin``."""
    found: list[Plugin] = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        try:
            plugin = ep.load()
        except Exception as err:  # plugin code: any import failure is a config problem
            raise ConfigError(
                f"plugin `{ep.name}` ({dist}): cannot import `{ep.value}`: {type(err).__name__}: {err}"
            ) from err
        if not isinstance(plugin, Plugin):
            raise ConfigError(f"plugin `{ep.name}` ({dist}): `{ep.value}` is not an opsroom.plugins.Plugin")
        found.append(plugin)
    return found
