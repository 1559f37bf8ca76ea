"""Provider option values templated with the command's typed arguments.

Built on ``opsroom.runs.runners.templating`` (one placeholder syntax across opsroom: ``{name}``,
filled in a single pass so an argument value is never re-read as a template). Two things
providers need on top of it:

- a value that is exactly ``{count}`` keeps its typed value (an int stays an int for
  ``replicas``), and a missing optional argument stays ``None`` so the provider can leave that
  input out instead of sending an empty string;
- an optional argument that was not given renders as nothing (the loader checks, through
  ``check_args``, that every placeholder is an argument of the command, so a typo is a
  config error at load time, not an empty value at run time);
- YAML literals (``prune: true``, ``replicas: 3``) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from opsroom.runs.runners.options import Options
from opsroom.runs.runners.templating import Template, TemplateError, check_names, parse

__all__ = [
    "TemplateError",
    "Value",
    "check_placeholders",
    "map_option",
    "render_map",
    "value_option",
]


@dataclass(frozen=True)
class Value:
    """One option value: a parsed template, or a literal from YAML."""

    template: Template | None = None
    literal: Any = None

    def render(self, args: Mapping[str, Any]) -> Any:
        if self.template is None:
            return self.literal
        # An optional argument that was not given is absent from ``args``; the loader has
        # already checked (``check_args``) that every placeholder names a real argument.
        name = self.template.single_arg
        if name is not None:
            return args.get(name)
        missing = {n: None for n in self.template.arg_names if n not in args}
        return self.template.render({**missing, **args} if missing else args)

    def text(self, args: Mapping[str, Any]) -> str | None:
        """The value as text (bools as true/false), ``None`` if it rendered to nothing."""
        value = self.render(args)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    @property
    def arg_names(self) -> frozenset[str]:
        return self.template.arg_names if self.template else frozenset()


def _value(raw: Any, where: str) -> Value:
    if isinstance(raw, str):
        return Value(template=parse(raw, where=where))
    if raw is None or isinstance(raw, (bool, int, float)):
        return Value(literal=raw)
    raise ValueError(f"{where} must be a string, number or true/false, not {type(raw).__name__}")


def value_option(opts: Options, key: str, default: Any = None, *, required: bool = False) -> Value:
    raw = opts.raw.get(key, default)
    if raw is None and required:
        raise opts.error(key, "is required")
    try:
        return _value(raw, f"{opts.runner} runner option {key!r}")
    except ValueError:
        raise opts.error(key, "must be a string, number or true/false") from None


def map_option(opts: Options, key: str) -> dict[str, Value]:
    """A mapping of names to templated values (workflow inputs, pipeline variables, job
    parameters)."""
    raw = opts.raw.get(key) or {}
    if not isinstance(raw, Mapping):
        raise opts.error(key, f"must be a mapping of names to values, not {type(raw).__name__}")
    out: dict[str, Value] = {}
    for name, item in raw.items():
        if not isinstance(name, str) or not name:
            raise opts.error(key, f"has a bad name {name!r}")
        try:
            out[name] = _value(item, f"{key}.{name}")
        except ValueError:
            raise opts.error(key, f"value of {name!r} must be a string, number or true/false") from None
    return out


def render_map(values: Mapping[str, Value], args: Mapping[str, Any]) -> dict[str, str]:
    """Render to text, leaving out entries whose optional argument was not given."""
    out: dict[str, str] = {}
    for name, value in values.items():
        text = value.text(args)
        if text is not None:
            out[name] = text
    return out


def check_placeholders(runner: str, arg_names: Collection[str], *values: Value | Mapping[str, Value]) -> None:
    """ConfigError when an option uses ``{name}`` that is not an argument of the command
    (called by the catalog loader through the runner's ``check_args``)."""
    used: set[str] = set()
    for item in values:
        for value in item.values() if isinstance(item, Mapping) else (item,):
            used |= value.arg_names
    check_names(used, arg_names, runner=runner)
