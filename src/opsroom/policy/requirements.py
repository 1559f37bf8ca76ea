"""What an allowed command still needs (approval, confirmation), from policy rules and from
the command's own ``options``.

A rule's requirements apply when that rule is among the permits that allowed the command;
Cedar reports every satisfied permit, so a requirement cannot be dodged by another rule that
also allows the command.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import ValidationError

from opsroom.config.guardrails import ApprovalSpec, CommandGuards, ConfirmSpec, TypedConfirm
from opsroom.config.policy import PolicyRule
from opsroom.core import CommandSpec, ConfigError, Requirement

APPROVAL = "approval"
CONFIRMATION = "confirmation"


def approval_requirement(spec: ApprovalSpec, source: str) -> Requirement:
    return Requirement(
        APPROVAL,
        detail=f"{spec.count} from {approvers_text(spec.roles, spec.users)}",
        count=spec.count,
        roles=tuple(spec.roles),
        users=tuple(spec.users),
        expires=spec.expires_seconds,
        allow_requester_team=spec.allow_requester_team,
        rule_id=source,
    )


def confirm_requirement(confirm: ConfirmSpec, source: str) -> Requirement | None:
    if confirm is False:
        return None
    if confirm is True:
        return Requirement(CONFIRMATION, rule_id=source)
    if isinstance(confirm, TypedConfirm):
        return Requirement(CONFIRMATION, detail=f"typed:{confirm.typed}", rule_id=source)
    return Requirement(CONFIRMATION, detail="typed:", rule_id=source)  # the first argument


def rule_requirements(rule: PolicyRule) -> tuple[Requirement, ...]:
    out: list[Requirement] = []
    if rule.require_approval is not None:
        out.append(approval_requirement(rule.require_approval, rule.id))
    confirm = confirm_requirement(rule.confirm, rule.id)
    if confirm is not None:
        out.append(confirm)
    return tuple(out)


def requirements_by_rule(rules: Iterable[PolicyRule]) -> dict[str, tuple[Requirement, ...]]:
    return {rule.id: found for rule in rules if (found := rule_requirements(rule))}


def command_guards(spec: CommandSpec) -> CommandGuards:
    """The guardrail keys of a command's ``options`` (confirm, approval, output)."""
    try:
        return CommandGuards.model_validate(dict(spec.options))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"command `{spec.name}`: options: {problems}") from None


# A command's own requirements, per spec (specs are frozen and built once per config; the
# spec is kept with its answer so an id is never mistaken for another's). Spares a pydantic
# validation of the options on every command.
_BY_SPEC: dict[int, tuple[CommandSpec, tuple[Requirement, ...]]] = {}
_BY_SPEC_MAX = 4096


def command_requirements(spec: CommandSpec) -> tuple[Requirement, ...]:
    known = _BY_SPEC.get(id(spec))
    if known is not None and known[0] is spec:
        return known[1]
    found = _command_requirements(spec)
    if len(_BY_SPEC) >= _BY_SPEC_MAX:
        _BY_SPEC.clear()
    _BY_SPEC[id(spec)] = (spec, found)
    return found


def _command_requirements(spec: CommandSpec) -> tuple[Requirement, ...]:
    guards = command_guards(spec)
    out: list[Requirement] = []
    if guards.approval is not None:
        out.append(approval_requirement(guards.approval, f"command:{spec.name}"))
    confirm = confirm_requirement(guards.confirm, f"command:{spec.name}")
    if confirm is not None:
        out.append(confirm)
    return tuple(out)


def approvers_text(roles: Iterable[str], users: Iterable[str]) -> str:
    who = [f"role {r}" for r in roles] + list(users)
    return " or ".join(who) if who else "anyone"


def typed_target(req: Requirement, spec: CommandSpec, args: dict[str, Any]) -> tuple[str, str] | None:
    """For a typed confirmation: (argument name, the value to type); None for a button."""
    if not req.detail.startswith("typed:"):
        return None
    name = req.detail.removeprefix("typed:") or (spec.args[0].name if spec.args else "")
    value = args.get(name)
    if not name or value is None:
        return ("command", spec.name)  # nothing to type but the command itself
    return (name, str(value))
