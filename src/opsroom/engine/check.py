"""What would happen if USER typed TEXT in CHANNEL: the pipeline run with ``live=False``.

``opsroom policy check``, ``opsroom policy test`` and the API's ``/api/check`` call
``check``; it runs the same steps chat does (``engine.steps``), so a check cannot disagree
with chat. With no database (the CLI by default) the steps that need live state —
freezes switched on from chat, rate limits, locks — say so in ``notes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ContextManager, Protocol

from sqlalchemy import Connection

from opsroom.core import Place, Principal, Requirement
from opsroom.engine import steps
from opsroom.engine.pipeline import GuardrailRules, Pipeline, PolicyView, Services, StepContext
from opsroom.guardrails import approvals as book
from opsroom.guardrails.freezes import ActiveFreeze
from opsroom.policy.requirements import APPROVAL, CONFIRMATION, typed_target

if TYPE_CHECKING:
    from opsroom.commands.catalog import Catalog
    from opsroom.config.guardrails import GuardrailsConfig
    from opsroom.guardrails.freezes import FreezeBook
    from opsroom.guardrails.ratelimit import RateLimiter
    from opsroom.policy.policy_tests import CaseResult, PolicyTestFile

UTC = dt.UTC
OFFLINE = ": not checked (no database)"  # how steps note what needs live state


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
    refusal: str | None = None  # why a step after authorize refused
    builtin: bool = False
    stopped: str = ""  # the outcome of the step that stopped it (deny, frozen, limited, locked)
    stop_text: str = ""
    notes: list[str] = field(default_factory=list)  # what an offline check could not look at

    @property
    def outcome(self) -> str:
        """error | deny | frozen | limited | locked | allow."""
        if self.error:
            return "error"
        if not self.allowed or self.refusal:
            return "deny"
        return self.stopped or "allow"

    @property
    def need_kinds(self) -> list[str]:
        return sorted({r.kind for r in self.needs})

    def lines(self, tz: dt.tzinfo = UTC) -> list[str]:
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
        if self.refusal:
            out[1] = f"  ✗ DENY — {self.refusal}"
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
        if self.stopped == "frozen" and self.freeze is not None:
            out.append(f"  frozen: {self.freeze.name} until {self.freeze.until_text(tz)} (break-glass overrides it)")
        elif self.stopped in ("limited", "locked"):
            out.append(f"  {self.stopped}: {self.stop_text}")
        if not self.needs and not self.stopped and not self.refusal:
            out.append("  needs nothing more: it would run at once")
        offline = [n.removesuffix(OFFLINE) for n in self.notes if n.endswith(OFFLINE)]
        if offline:
            out.append(f"  not checked without --database: {', '.join(offline)}")
        out.extend(f"  note: {note}" for note in self.notes if not note.endswith(OFFLINE))
        return out


def place_of(channel: str, platform: str) -> Place:
    if channel == "dm":
        return Place(platform, "dm", is_direct=True)
    return Place(platform, channel.lstrip("#"), channel_name=channel)


async def check(
    pipeline: Pipeline,
    services: Services,
    principal: Principal,
    place: Place,
    text: str,
    *,
    people: Iterable[Principal] = (),
    now: dt.datetime | None = None,
) -> Verdict:
    """Run ``text`` through ``pipeline`` without writing anything; ``people`` are whom to
    list as possible approvers."""
    now = now or services.clock()
    ctx = StepContext(text, principal, place, services, live=False, addressed=True, now=now)
    stop = await pipeline.run(ctx)
    verdict = Verdict(text, principal.name, place.name or place.channel, notes=ctx.notes)
    if ctx.inv is None:
        verdict.error = stop.text if stop is not None else "not a command"
        return verdict
    inv = ctx.inv
    verdict.parsed = inv.canonical()
    verdict.builtin = inv.command.builtin
    if ctx.decision is not None:
        decision = ctx.decision
        verdict.allowed, verdict.reason, verdict.rule_ids = decision.allowed, decision.reason, decision.rule_ids
    if stop is not None:
        verdict.stop_text = stop.text
    if stop is not None and stop.outcome == "deny" and verdict.allowed:
        # refused after authorize: break-glass, change review, a plugin's step
        verdict.refusal = stop.text.removeprefix("⛔ ").removesuffix(". Nothing was run.")
    if stop is not None and stop.outcome in ("frozen", "limited", "locked"):
        verdict.stopped, verdict.stop_text = stop.outcome, stop.text
        verdict.freeze = ctx.freeze
        steps.hold(ctx)  # what it would still need once the freeze or limit passes
    elif ctx.freeze is not None:
        verdict.freeze = ctx.freeze  # overridden by break-glass
    if verdict.outcome in ("error", "deny") or inv.command.builtin:
        return verdict
    verdict.needs = list(ctx.needs)
    everyone = list(people)
    for i, req in enumerate(verdict.needs):
        if req.kind == APPROVAL:
            verdict.approvers[i] = [p.name for p in everyone if book.can_approve(p, req, principal)]
        elif req.kind == CONFIRMATION:
            typed = typed_target(req, inv.command, dict(inv.args))
            if typed is not None:
                verdict.typed[i] = typed
    return verdict


async def run_cases(
    pipeline: Pipeline, services: Services, people: list[Principal], cases: PolicyTestFile
) -> list[CaseResult]:
    """``opsroom policy test``: every case of a ``PolicyTestFile`` through the pipeline."""
    from opsroom.policy.policy_tests import CaseResult, problems_of

    by_name = {p.name: p for p in people}
    results = []
    for case in cases.cases:
        principal = by_name.get(case.user) or Principal.anonymous(case.platform, case.user)
        verdict = await check(
            pipeline,
            services,
            principal,
            place_of(case.channel, case.platform),
            case.command,
            people=people,
            now=case.at,
        )
        verdict.channel = case.channel
        results.append(CaseResult(case, verdict, problems_of(case, verdict)))
    return results


@dataclass(frozen=True)
class Rules:
    """The guardrail rules of a config, for a check outside a running system."""

    config: GuardrailsConfig
    freezes: FreezeBook
    limiter: RateLimiter

    @classmethod
    def of(cls, config: GuardrailsConfig) -> Rules:
        from opsroom.guardrails.freezes import FreezeBook
        from opsroom.guardrails.ratelimit import RateLimiter

        return cls(config, FreezeBook(config.freezes), RateLimiter(config.rate_limits))


class CheckedParts(Protocol):
    """What a check reads of the engine's parts (``EngineParts``)."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def policy(self) -> PolicyView: ...

    @property
    def engine_flags(self) -> Mapping[str, type]: ...

    @property
    def extras(self) -> Mapping[str, Any]: ...


def services_for(
    parts: CheckedParts,
    guardrails: GuardrailRules,
    *,
    read: Callable[[], ContextManager[Connection]] | None = None,
    redact: Callable[[str], str] | None = None,
    extras: Mapping[str, Any] | None = None,
) -> Services:
    """The steps' view of ``parts`` (EngineParts) for a check: offline unless ``read``."""
    return Services(
        catalog=parts.catalog,
        policy=parts.policy,
        guardrails=guardrails,
        engine_flags=parts.engine_flags,
        redact=redact or (lambda text: text),
        read=read,
        extras=extras if extras is not None else parts.extras,
    )
