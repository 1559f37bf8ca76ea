"""Compile the YAML shorthand in ``policy.rules`` to Cedar text.

Each rule becomes one ``permit`` or ``forbid`` annotated with ``@id`` (its ``id:``) and, when
given, ``@reason``. Conditions become separate ``when { … }`` clauses, so the generated text
reads like the YAML it came from (``opsroom policy show`` prints it). Every user-supplied
string goes through :func:`cedar_str`, so quotes or newlines in a value cannot change the
policy's meaning.
"""

from __future__ import annotations

import re

from opsroom.config.policy import PolicyRule, Scalar, ValueCondition, ValueRange
from opsroom.policy.windows import windows_to_cedar

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words Cedar will not take as an attribute name after a dot.
_RESERVED = {"true", "false", "if", "then", "else", "in", "like", "has", "is", "__cedar"}


def cedar_str(value: str) -> str:
    """A Cedar string literal for any Python string."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def cedar_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return cedar_str(str(value))


def entity(kind: str, name: str) -> str:
    return f"{kind}::{cedar_str(name)}"


def arg_ref(name: str) -> tuple[str, str]:
    """(has-test, access) for ``context.args.<name>``, quoting names that are not identifiers."""
    if _IDENT.match(name) and name not in _RESERVED:
        return f"context.args has {name}", f"context.args.{name}"
    return f"context.args has {cedar_str(name)}", f"context.args[{cedar_str(name)}]"


def _set(values: list[Scalar]) -> str:
    return "[" + ", ".join(cedar_value(v) for v in values) + "]"


def _value_condition(name: str, cond: ValueCondition) -> str:
    has, ref = arg_ref(name)
    if isinstance(cond, ValueRange):
        if cond.not_ is not None:
            values = cond.not_ if isinstance(cond.not_, list) else [cond.not_]
            if len(values) == 1:
                return f"!({has} && {ref} == {cedar_value(values[0])})"
            return f"!({has} && {_set(values)}.contains({ref}))"
        bounds = [has]
        if cond.min is not None:
            bounds.append(f"{ref} >= {cond.min}")
        if cond.max is not None:
            bounds.append(f"{ref} <= {cond.max}")
        return " && ".join(bounds)
    if isinstance(cond, list):
        if len(cond) == 1:
            return f"{has} && {ref} == {cedar_value(cond[0])}"
        return f"{has} && {_set(cond)}.contains({ref})"
    return f"{has} && {ref} == {cedar_value(cond)}"


def _action_scope(commands: list[str]) -> str:
    if "*" in commands:
        return "action"
    if len(commands) == 1:
        return f"action == {entity('Action', commands[0])}"
    return "action in [" + ", ".join(entity("Action", c) for c in commands) + "]"


def _principal_condition(rule: PolicyRule) -> str | None:
    """None means everyone (no condition on the principal)."""
    if "*" in rule.users or not (rule.roles or rule.groups or rule.users):
        return None
    if "*" in rule.roles and rule.effect == "forbid":
        return None  # a deny never leaves a gap: unknown senders are covered too
    alternatives: list[str] = []
    if "*" in rule.roles:
        alternatives.append("principal is User")  # every configured user, not unknown senders
    elif rule.roles:
        alternatives.append(_members("Role", rule.roles))
    if rule.groups:
        alternatives.append(_members("Group", rule.groups))
    if rule.users:
        alternatives.append(_members("User", rule.users))
    return " || ".join(alternatives)


def _members(kind: str, names: list[str]) -> str:
    return "principal in [" + ", ".join(entity(kind, n) for n in names) + "]"


def _in_list(attr: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"context.{attr} == {cedar_str(values[0])}"
    return "[" + ", ".join(cedar_str(v) for v in values) + f"].contains(context.{attr})"


def compile_rule(rule: PolicyRule) -> str:
    """Cedar text for one rule. Raises ValueError (from the window parser) on a bad window."""
    lines = [f"@id({cedar_str(rule.id)})"]
    if rule.reason:
        lines.append(f"@reason({cedar_str(rule.reason)})")
    lines.append(f"{rule.effect} (principal, {_action_scope(rule.commands)}, resource)")
    conditions: list[str] = []
    who = _principal_condition(rule)
    if who:
        conditions.append(who)
    for name, cond in rule.when.items():
        conditions.append(_value_condition(name, cond))
    if rule.channels:
        conditions.append(_in_list("channel", rule.channels))
    if rule.platforms:
        conditions.append(_in_list("platform", rule.platforms))
    if rule.during:
        conditions.append(windows_to_cedar(rule.during))
    if rule.outside:
        conditions.append(f"!({windows_to_cedar(rule.outside)})")
    lines.extend(f"  when {{ {c} }}" for c in conditions)
    return "\n".join(lines) + ";\n"


def compile_rules(rules: list[PolicyRule]) -> str:
    return "\n".join(compile_rule(rule) for rule in rules)
