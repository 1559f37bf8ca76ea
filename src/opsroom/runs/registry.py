"""Where runner types and hook actions are found by name.

Built-in runners (exec, http, python) and every integration provider register here, so a
catalog entry's ``runner: {type: github_actions, …}`` or hook ``action: ticket.open`` is
resolved by lookup, never by an if-chain. Providers are imported lazily by
``opsroom.app`` only when configured, keeping the embedded default light.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from opsroom.core import ConfigError, HookAction, Runner, RunnerSpec

RunnerFactory = Callable[[Mapping[str, Any]], Runner]
ActionFactory = Callable[[Mapping[str, Any]], HookAction]

_runners: dict[str, RunnerFactory] = {}
_actions: dict[str, ActionFactory] = {}


def register_runner(type_name: str, factory: RunnerFactory) -> None:
    """``factory(options)`` validates the options (raising ConfigError with a clear message)
    and returns a Runner."""
    _runners[type_name] = factory


def build_runner(spec: RunnerSpec) -> Runner:
    try:
        factory = _runners[spec.type]
    except KeyError:
        known = ", ".join(sorted(_runners)) or "none"
        raise ConfigError(f"unknown runner type {spec.type!r} (known: {known})") from None
    return factory(spec.options)


def runner_types() -> list[str]:
    return sorted(_runners)


def register_action(name: str, factory: ActionFactory) -> None:
    """``factory(options)`` returns the callable run for a hook ``action: name``."""
    _actions[name] = factory


def build_action(name: str, options: Mapping[str, Any]) -> HookAction:
    try:
        factory = _actions[name]
    except KeyError:
        known = ", ".join(sorted(_actions)) or "none"
        raise ConfigError(f"unknown hook action {name!r} (known: {known})") from None
    return factory(options)


def action_names() -> list[str]:
    return sorted(_actions)
