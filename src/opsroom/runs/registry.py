"""Runner types and hook actions, found by name in what the plugins declared.

A catalog entry's ``runner: {type: github_actions, …}`` or hook ``action: ticket.open`` is
resolved by lookup in the mappings the plugins declare (``opsroom.plugins``), never by an
if-chain and never through a module-level registry.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from opsroom.core import ConfigError, HookAction, Runner, RunnerSpec

RunnerFactory = Callable[[Mapping[str, Any]], Runner]
ActionFactory = Callable[[Mapping[str, Any]], HookAction]


def build_runner(spec: RunnerSpec, types: Mapping[str, RunnerFactory]) -> Runner:
    """``types[spec.type](options)``: validates the options (ConfigError with a clear message)
    and returns a Runner."""
    try:
        factory = types[spec.type]
    except KeyError:
        known = ", ".join(sorted(types)) or "none"
        raise ConfigError(f"unknown runner type {spec.type!r} (known: {known})") from None
    return factory(spec.options)
