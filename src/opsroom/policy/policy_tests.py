"""Policy you can test: what would happen if USER typed TEXT in CHANNEL — allowed or denied,
by which rules, and what it would still need (approval, confirmation, a freeze lifted).

``evaluate`` backs ``opsroom policy check``; ``run_cases`` backs ``opsroom policy test``, which
runs a YAML file of cases so a team keeps its rules under test in CI. Nothing here touches
the database: freezes switched on from chat and rate limits are not part of a dry check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from opsroom.config.base import Section
from opsroom.config.guardrails import GuardrailsConfig
from opsroom.core import ConfigError, ParseError, Place, Principal, Requirement
from opsroom.policy import approvals as book
from opsroom.policy import breakglass
from opsroom.policy.freezes import ActiveFreeze, FreezeBook
from opsroom.policy.requirements import APPROVAL, CONFIRMATION, command_requirements, typed_target

UTC = dt.UTC
CHECK_FLAGS: dict[str, type] = {"dry-run": bool, "break-glass": str}


@dataclass
class Verdict:
    text: str
    user: str
    channel: str
    parsed: str = ""
    error: str = ""  # a parse error: nothing would run
    allowed: bool = False
    reason: str = ""
    rule_ids: tuple[str, ...] = ()
    needs: list[Requirement] = field(default_factory=list)
    approvers: dict[int, list[str]] = field(default_factory=dict)  # needs index -> who could approve
    typed: dict[int, tuple[str, str]] = field(default_factory=dict)
    freeze: ActiveFreeze | None = None
    break_glass_refusal: str | None = None
    builtin: bool = False

    @property
    def outcome(self) -> str:
        """error | deny | frozen | allow."""
        if self.error:
            return "error"
        if not self.allowed or self.break_glass_refusal:
            return "deny"
        if self.freeze is not None:
            return "frozen"
        return "allow"

    @property
    def need_kinds(self) -> list[str]:
        return sorted({r.kind for r in self.needs})

    def lines(self, tz: Any = UTC) -> list[str]:
        head = f"{self.parsed or self.text}  (as {self.user} in {self.channel})"
        if self.error:
            return [head, f"  ✗ not a valid command: {self.error}"]
        if not self.allowed:
            return [
                head,
                f"  ✗ DENY — {self.reason}",
                f"  rules: {', '.join(self.rule_ids) or '(none allowed it)'}",
            ]
        out = [head, f"  ✓ ALLOW — {self.reason}", f"  rules: {', '.join(self.rule_ids) or '-'}"]
        if self.break_glass_refusal:
            out[1] = f"  ✗ DENY — {self.break_glass_refusal}"
        for i, req in enumerate(self.needs):
            if req.kind == APPROVAL:
                who = ", ".join(self.approvers.get(i, [])) or "nobody configured can approve!"
                out.append(
                    f"  needs approval: {req.detail} (could approve: {who}); expires after "
                    f"{req.expires // 60}m; rule {req.rule_id}"
                )
            else:
                typed = self.typed.get(i)
                how = f"type `{typed[1]}` (the {typed[0]})" if typed else "click Confirm"
                out.append(f"  needs confirmation by the requester: {how}; rule {req.rule_id}")
        if self.freeze is not None:
            out.append(
                f"  frozen: {self.freeze.name} until {self.freeze.until_text(tz)} (break-glass overrides it)"
            )
        if not self.needs and self.freeze is None:
            out.append("  needs nothing more: it would run at once")
        return out


def _place(channel: str, platform: str) -> Place:
    if channel == "dm":
        return Place(platform, "dm", is_direct=True)
    return Place(platform, channel.lstrip("#"), channel_name=channel)


def evaluate(
    parts: Any,
    guardrails: GuardrailsConfig,
    *,
    user: str,
    channel: str,
    text: str,
    platform: str = "shell",
    now: dt.datetime | None = None,
) -> Verdict:
    """What would happen; ``parts`` is an EngineParts (catalog, policy, directory)."""
    from opsroom.commands.parser import extract, parse

    now = now or dt.datetime.now(UTC)
    principal: Principal = parts.directory.get(user) or Principal.anonymous(platform, user)
    place = _place(channel, platform)
    verdict = Verdict(text, principal.name, channel)
    command_text = extract(text, addressed=True) or ""
    try:
        inv = parse(command_text, parts.catalog, principal, place, engine_flags=CHECK_FLAGS)
    except ParseError as exc:
        verdict.error = str(exc)
        return verdict
    verdict.parsed = inv.canonical()
    verdict.builtin = inv.command.builtin
    decision = parts.policy.decide(principal, inv.name, inv.args, place, now)
    verdict.allowed, verdict.reason, verdict.rule_ids = decision.allowed, decision.reason, decision.rule_ids
    if not decision.allowed or inv.command.builtin:
        return verdict
    glass = breakglass.FLAG in inv.flags
    if glass:
        verdict.break_glass_refusal = breakglass.refusal(
            guardrails.break_glass, principal, inv.flags[breakglass.FLAG]
        )
    dry = bool(inv.flags.get("dry_run"))
    needs = [] if dry else list(decision.requires) + list(command_requirements(inv.command))
    if glass and not verdict.break_glass_refusal:
        needs = [r for r in needs if r.kind != APPROVAL]
    verdict.needs = needs
    for i, req in enumerate(needs):
        if req.kind == APPROVAL:
            verdict.approvers[i] = [p.name for p in parts.directory if book.can_approve(p, req, principal)]
        elif req.kind == CONFIRMATION:
            typed = typed_target(req, inv.command, dict(inv.args))
            if typed is not None:
                verdict.typed[i] = typed
    if not (glass and not verdict.break_glass_refusal):
        verdict.freeze = FreezeBook(guardrails.freezes).configured_for(inv.command, inv.args, now)
    return verdict


# -- policy test files --------------------------------------------------------------------------
class PolicyCase(Section):
    name: str = ""
    user: str
    channel: str = "#ops"
    platform: str = "shell"
    command: str = Field(min_length=1)
    expect: Literal["allow", "deny", "frozen", "error"]
    needs: list[Literal["approval", "confirmation"]] | None = None  # exact; None = not checked
    rules: list[str] = []  # these rule ids must be among the deciding ones
    approvers: list[str] | None = None  # exactly who could approve (when it needs approval)
    at: dt.datetime | None = None  # evaluate at this time (naive = UTC)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class PolicyTestFile(Section):
    cases: list[PolicyCase] = Field(min_length=1)


@dataclass
class CaseResult:
    case: PolicyCase
    verdict: Verdict
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return self.case.name or f"{self.case.user}: {self.case.command}"


def load_cases(path: Path) -> PolicyTestFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if isinstance(data, list):
        data = {"cases": data}
    try:
        return PolicyTestFile.model_validate(data)
    except ValidationError as err:
        problems = "\n".join(
            f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(problems) from None


def check_case(parts: Any, guardrails: GuardrailsConfig, case: PolicyCase) -> CaseResult:
    verdict = evaluate(
        parts,
        guardrails,
        user=case.user,
        channel=case.channel,
        text=case.command,
        platform=case.platform,
        now=case.at,
    )
    problems: list[str] = []
    if verdict.outcome != case.expect:
        why = verdict.error or verdict.break_glass_refusal or verdict.reason
        problems.append(f"expected {case.expect}, got {verdict.outcome} ({why})")
    if case.needs is not None and sorted(set(case.needs)) != verdict.need_kinds:
        problems.append(f"expected needs {sorted(set(case.needs)) or '[]'}, got {verdict.need_kinds or '[]'}")
    missing = [r for r in case.rules if r not in verdict.rule_ids]
    if missing:
        problems.append(
            f"rules {', '.join(missing)} did not decide (deciding: {', '.join(verdict.rule_ids) or '-'})"
        )
    if case.approvers is not None:
        could = sorted({n for names in verdict.approvers.values() for n in names})
        if could != sorted(case.approvers):
            problems.append(f"expected approvers {sorted(case.approvers)}, got {could}")
    return CaseResult(case, verdict, problems)


def run_cases(parts: Any, guardrails: GuardrailsConfig, cases: PolicyTestFile) -> list[CaseResult]:
    return [check_case(parts, guardrails, case) for case in cases.cases]
