"""Check a policy against the command catalog before it is used.

A rule that names a command or an argument that does not exist would never match: a silent
no-op at best, an open door at worst (a forbid that never fires). So those are errors, for
the shorthand (checked here, with "did you mean") and for raw Cedar (validated against a
schema generated from the catalog, which also catches type mistakes and missing ``has``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Mapping

import cedarpy

from opsroom.config.policy import PolicyConfig, PolicyRule, Scalar, ValueCondition, ValueRange
from opsroom.core import ArgSpec, ArgType, CommandSpec, ConfigError
from opsroom.policy import sources
from opsroom.policy.schema import build_schema, commands_by_name

_POLICY_PREFIX = re.compile(r"^for policy `[^`]+`, ")


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    if not close:  # "enviroment" -> "env": a shared start of three letters or more
        close = [o for o in options if min(len(o), len(name)) >= 3 and (o.startswith(name) or name.startswith(o))]
    return f" (did you mean {close[0]}?)" if close else ""


def _values(cond: ValueCondition) -> list[Scalar]:
    if isinstance(cond, ValueRange):
        if cond.not_ is None:
            return []
        return cond.not_ if isinstance(cond.not_, list) else [cond.not_]
    return cond if isinstance(cond, list) else [cond]


def _check_value(rule: PolicyRule, command: str, arg: ArgSpec, cond: ValueCondition) -> list[str]:
    where = f"rule {rule.id}: {command} {arg.name}"
    problems: list[str] = []
    ranged = isinstance(cond, ValueRange) and (cond.min is not None or cond.max is not None)
    if arg.type in (ArgType.INT, ArgType.DURATION):
        unit = " (durations are compared in seconds)" if arg.type is ArgType.DURATION else ""
        for value in _values(cond):
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{where} is a number; {value!r} is not{unit}")
        return problems
    if ranged:
        return [f"{where} is not a number; min/max only apply to int and duration arguments"]
    for value in _values(cond):
        if arg.type is ArgType.BOOL:
            if not isinstance(value, bool):
                problems.append(f"{where} is true or false; {value!r} is neither")
        elif not isinstance(value, str) or isinstance(value, bool):
            problems.append(f"{where} is text; write {value!r} in quotes")
        elif arg.type is ArgType.ENUM and arg.values and value not in arg.values:
            problems.append(
                f"{where} is one of {', '.join(arg.values)}; {value!r} is not" + _did_you_mean(value, list(arg.values))
            )
    return problems


def _check_rule(rule: PolicyRule, commands: Mapping[str, CommandSpec], aliases: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    named: list[CommandSpec] = []
    for name in rule.commands:
        if name == "*":
            continue
        if name in commands:
            named.append(commands[name])
        elif name in aliases:
            problems.append(f"rule {rule.id}: {name!r} is an alias of {aliases[name]}; name the command itself")
        else:
            problems.append(f"rule {rule.id}: there is no command {name!r}" + _did_you_mean(name, sorted(commands)))
    every = "*" in rule.commands
    for arg_name, cond in rule.when.items():
        if every:
            having = [c for c in commands.values() if c.arg(arg_name)]
            if not having:
                all_args = sorted({a.name for c in commands.values() for a in c.args})
                problems.append(
                    f"rule {rule.id}: no command has an argument {arg_name!r}" + _did_you_mean(arg_name, all_args)
                )
        else:
            having = []
            for spec in named:
                if spec.arg(arg_name) is None:
                    problems.append(
                        f"rule {rule.id}: {spec.name} has no argument {arg_name!r}"
                        + _did_you_mean(arg_name, [a.name for a in spec.args])
                    )
                else:
                    having.append(spec)
        for spec in having:
            arg = spec.arg(arg_name)
            assert arg is not None
            problems.extend(_check_value(rule, spec.name, arg, cond))
    return list(dict.fromkeys(problems))


def check_policy(policy: PolicyConfig, catalog: Mapping[str, CommandSpec], base_dir: Path) -> list[str]:
    """Human-readable problems; an empty list means the policy is fit to use.

    ``catalog`` must hold every command the bot answers, built-ins included.
    """
    try:
        loaded = sources.load(policy, base_dir)
    except ConfigError as err:
        return [str(err)]
    commands = commands_by_name(catalog)
    aliases = {alias: spec.name for spec in commands.values() for alias in spec.aliases}
    aliases.update({key: spec.name for key, spec in catalog.items() if key != spec.name})

    problems: list[str] = []
    flawed: set[str] = set()
    for rule in policy.rules:
        found = _check_rule(rule, commands, aliases)
        if found:
            flawed.add(rule.id)
            problems.extend(found)

    # Raw Cedar (and, as a safety net, the compiled shorthand) against the catalog's schema.
    schema = cedarpy.Schema.from_str(build_schema(catalog))
    for source in loaded.sources:
        result = cedarpy.validate_policies(source.text, schema)
        for error in result.errors:
            pid = _our_id(source, error.policy_id)
            if pid in flawed:
                continue
            message = _POLICY_PREFIX.sub("", error.error)
            label = f"rule {pid}" if source.name == sources.SHORTHAND else f"{source.name}, policy {pid}"
            problems.append(f"{label}: {message}")
    return list(dict.fromkeys(problems))


def _our_id(source: sources.PolicySource, cedar_id: str) -> str:
    """Cedar's positional id (``policy3``) → the id we show (``@id`` or ``file#4``)."""
    number = cedar_id.removeprefix("policy")
    if number.isdigit() and int(number) < len(source.ids):
        return source.ids[int(number)]
    return cedar_id or "?"
