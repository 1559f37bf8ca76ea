"""The Cedar model opsroom uses, written down once: entity types, the request context, and a
Cedar schema generated from the command catalog so policies can be validated before use.

Entities: ``User::"alice"`` (a configured user; parents ``Role::"sre"``, ``Group::"…"``),
``Guest::"slack:U123"`` (a sender no configured user matches; no parents), ``Channel::"#ops"``
(the place, ``Channel::"dm"`` for direct messages). Actions: one ``Action::"<command>"`` per
command name, built-ins included.
"""

from __future__ import annotations

from typing import Mapping

from opsroom.core import ArgType, CommandSpec
from opsroom.policy.shorthand import cedar_str

# Every key the engine puts in the request context, with its Cedar type. The engine builds
# exactly these (tests hold it to that), and docs/policy.md lists them.
CONTEXT_FIELDS: dict[str, str] = {
    "channel": "String",  # "#ops", or "dm"
    "platform": "String",  # "slack", "web", …
    "direct": "Bool",  # a direct message
    "known_user": "Bool",  # the sender is a configured user
    "weekday": "String",  # "Mon" … "Sun" in the policy's time zone
    "hour": "Long",  # 0-23
    "minute": "Long",  # 0-59
    "hhmm": "Long",  # hour * 100 + minute, e.g. 1730
    "date": "String",  # "2025-03-01"
}

ARG_TYPES: dict[ArgType, str] = {
    ArgType.STRING: "String",
    ArgType.ENUM: "String",
    ArgType.CHOICE: "String",
    ArgType.INT: "Long",
    ArgType.DURATION: "Long",  # seconds
    ArgType.BOOL: "Bool",
}


def commands_by_name(catalog: Mapping[str, CommandSpec]) -> dict[str, CommandSpec]:
    """The catalog keyed by canonical name (a catalog may also hold aliases as keys)."""
    return {spec.name: spec for spec in catalog.values()}


def _args_type(spec: CommandSpec) -> str:
    fields = []
    for arg in spec.args:
        # Present whenever the command parsed: required, or filled from its default.
        always = arg.required or arg.default is not None
        optional = "" if always else "?"
        fields.append(f"{cedar_str(arg.name)}{optional}: {ARG_TYPES.get(arg.type, 'String')}")
    return "{" + ", ".join(fields) + "}"


def build_schema(catalog: Mapping[str, CommandSpec]) -> str:
    """Cedar schema text for this catalog."""
    common = ", ".join(f"{name}: {kind}" for name, kind in CONTEXT_FIELDS.items())
    lines = [
        "entity Role, Group;",
        "entity User in [Role, Group];",
        "entity Guest;",
        "entity Channel;",
    ]
    for name, spec in sorted(commands_by_name(catalog).items()):
        lines.append(
            f"action {cedar_str(name)} appliesTo {{ principal: [User, Guest], resource: [Channel], "
            f"context: {{args: {_args_type(spec)}, {common}}} }};"
        )
    return "\n".join(lines) + "\n"
