"""Does a policy grant everything, or nothing? ``opsroom check`` asks, because both are
valid configs that are almost never meant: with no rules everyone may run every command, and
rules that match no configured user lock everyone out.

The probe asks the real policy engine (Cedar) about every configured user and a stranger
(known=False, no roles), every catalog command that policy governs, every configured channel
and a DM, with each enum value of each argument — not a proof, but the cases an admin
would try by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from opsroom.core import CommandSpec, Place, Principal

STRANGER = Principal("someone-not-configured", known=False)


def _arg_sets(spec: CommandSpec) -> Iterator[dict[str, Any]]:
    base = {a.name: a.default for a in spec.args if a.default is not None}
    yield base
    for arg in spec.args:
        for value in arg.values:
            yield {**base, arg.name: value}


def _places(channels: Iterable[Any]) -> list[Place]:
    places = [Place(c.platform, c.id or c.name.lstrip("#"), None, False, c.name) for c in channels]
    return places + [Place("web", "dm", None, True, "dm"), Place("web", "elsewhere", None, False, "#elsewhere")]


def breadth_warnings(
    policy: Any, catalog: Iterable[CommandSpec], people: Iterable[Principal], channels: Iterable[Any]
) -> list[str]:
    """Loud warnings for a policy that grants everything or nothing (empty when neither)."""
    commands = [spec for spec in catalog if not spec.builtin]
    if not commands:
        return []
    if not policy.configured:
        return [
            "policy grants EVERYTHING: no policy is configured, so anyone who can reach the bot "
            "may run every command (add policy.rules; docs/policy.md)"
        ]
    places = _places(channels)
    people = list(people)

    def allowed(who: Principal, spec: CommandSpec) -> bool:
        return any(policy.decide(who, spec.name, args, place).allowed for args in _arg_sets(spec) for place in places)

    def always(who: Principal, spec: CommandSpec) -> bool:
        return all(policy.decide(who, spec.name, args, place).allowed for args in _arg_sets(spec) for place in places)

    if all(always(STRANGER, spec) for spec in commands):
        return [
            "policy grants EVERYTHING: a person who is not a configured user may run every "
            f"command ({len(commands)}) in every channel — check rules that name no role or user"
        ]
    if not any(allowed(who, spec) for who in people for spec in commands):
        return [
            f"policy grants NOTHING: none of the {len(people)} configured users may run any of the "
            f"{len(commands)} commands — check the roles and user names the rules use"
        ]
    return []
