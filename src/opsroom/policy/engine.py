"""PolicyEngine: decides whether a principal may run a command here and now.

Parsing Cedar costs ~15 ms; evaluating against parsed handles costs well under a millisecond.
So the policy set is parsed once (when the config is loaded or reloaded: build a new engine
then) and each principal's entity set is parsed once and cached; ``decide`` only builds the
small request context.

Deny overrides allow. Once any rule or file is configured, what no rule allows is denied;
with nothing configured everything is allowed (``configured`` is False and ``warnings``
says so). A forbid that fails to evaluate denies rather than being skipped: a broken guard
must not open the door.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import cedarpy

from opsroom.config.models import UserConfig
from opsroom.config.policy import PolicyConfig
from opsroom.core import ConfigError, Decision, Place, Principal, Requirement
from opsroom.policy import sources
from opsroom.policy.decision_cache import DecisionCache
from opsroom.policy.plans import Plan, Planner
from opsroom.policy.requirements import requirements_by_rule
from opsroom.policy.windows import DAYS

log = logging.getLogger(__name__)

_NOTHING_ALLOWS = object()  # verdict: no rule allows (the text is built per request)
_POLICY_IN_ERROR = re.compile(r"policy `([^`]+)`")
_MAX_CACHED_PRINCIPALS = 10_000
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def cedar_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Argument values as Cedar takes them: strings, longs, bools; absent when None."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = value
        elif isinstance(value, int) and _LONG_MIN <= value <= _LONG_MAX:
            out[name] = value
        else:
            out[name] = str(value)
    return out


def _shown(value: Any) -> str:
    """An argument value fit for a one-line reason."""
    text = " ".join(str(value).split())
    return text if len(text) <= 40 else text[:39] + "…"


class PolicyEngine:
    """Immutable once built; safe to share between tasks and threads."""

    def __init__(
        self,
        loaded: sources.LoadedPolicySet,
        *,
        configured: bool,
        timezone: str = "UTC",
        shown_args: Mapping[str, tuple[str, ...]] | None = None,
        warnings: list[str] | None = None,
        requirements: Mapping[str, tuple[Requirement, ...]] | None = None,
    ) -> None:
        self.configured = configured
        # Rule id -> what an allow by that rule still needs (approval, confirmation).
        self.requirements = dict(requirements or {})
        self.policies = dict(loaded.policies)
        self.sources = list(loaded.sources)
        self.warnings = list(loaded.warnings) + list(warnings or [])
        self._tz = ZoneInfo(timezone)
        self._shown_args = dict(shown_args or {})
        self._policy_set = cedarpy.PolicySet.from_json_str(loaded.combined_json())
        # Per request, the policies whose scope and leading atom-only conditions hold (the
        # live ones), and decisions keyed on what those observe (plans.py, decision_cache.py).
        self._planner = Planner({pid: p.est for pid, p in self.policies.items()})
        self._order = {pid: n for n, pid in enumerate(self.policies)}
        self._no_entities = cedarpy.Entities.from_json_str("[]")
        self._entities: OrderedDict[tuple[Any, ...], cedarpy.Entities] = OrderedDict()
        self._decisions = DecisionCache()
        if not configured:
            self.warnings.append("no policy is configured: everyone may run every command (add policy.rules)")

    @classmethod
    def from_config(cls, policy: PolicyConfig, users: Mapping[str, UserConfig], base_dir: Path) -> PolicyEngine:
        """Parse everything once. Raises ConfigError naming the file (and line) or rule."""
        loaded = sources.load(policy, base_dir)
        try:
            return cls(
                loaded,
                configured=policy.configured,
                timezone=policy.timezone,
                shown_args=_shown_args(policy),
                warnings=_user_warnings(policy, users),
                requirements=requirements_by_rule(policy.rules),
            )
        except ValueError as err:  # Cedar rejected the combined set; should not happen
            raise ConfigError(f"policy: {err}") from None

    # -- deciding -------------------------------------------------------------------------

    def decide(
        self,
        principal: Principal,
        command: str,
        args: Mapping[str, Any],
        place: Place,
        now: datetime | None = None,
    ) -> Decision:
        if not self.configured:
            return Decision.allow("allowed: no policy is configured")
        plan = self._planner.plan(principal, command, place.name)
        if plan.projection is None:  # every live policy is decided by its atoms alone
            if plan.constant is None:
                plan.constant = self._verdict(plan.satisfied, [], True)
            verdict = plan.constant
        else:
            request = self.request(principal, command, args, place, now)
            # Everything the verdict depends on (plans.py): the plan, the context its policies
            # read, and whatever of the request they read beyond atoms.
            key = (
                plan,
                plan.projection.key(request["context"]),
                (principal.known, principal.name, principal.roles, principal.groups)
                if "principal" in plan.needs
                else None,
                command if "action" in plan.needs else None,
                place.name if "resource" in plan.needs else None,
            )
            verdict = self._decisions.get(key)
            if verdict is None:
                verdict = self._evaluate(request, plan, principal, command)
                self._decisions.put(key, verdict)
        if verdict is _NOTHING_ALLOWS:  # its text names who, what and where: built per call
            return Decision.deny(self._nothing_allows(principal, command, args, place), ())
        return verdict  # type: ignore[no-any-return]

    def _evaluate(self, request: dict[str, Any], plan: Plan, principal: Principal, command: str) -> Any:
        """One Cedar evaluation for the plan: the command's candidate policies (parsed once;
        the ones not live are neither satisfied nor in error), the context they read."""
        assert plan.projection is not None
        trimmed = {**request, "context": plan.projection.trim(request["context"])}
        action = self._planner.action(command)
        entities = self._entities_for(principal) if action.needs_store else self._no_entities
        result = cedarpy.is_authorized(trimmed, action.policy_set, entities)
        failed = self._failed_forbids(result.diagnostics.errors, principal, command)
        return self._verdict(result.diagnostics.reasons, failed, result.allowed)

    def _verdict(self, fired: Iterable[str], failed: list[str], allowed: bool) -> Any:
        """The Decision for Cedar's outcome, or _NOTHING_ALLOWS (a denial whose text depends
        on the request). ``fired`` are Cedar's reasons: the satisfied forbids on a denial,
        the satisfied permits on an allow. For a plan decided by atoms alone, ``fired`` is
        every live policy (all satisfied) and Cedar's rule is applied here: any forbid
        denies, else any permit allows, else nothing does."""
        ordered = self._sorted(list(fired))
        forbids = [pid for pid in ordered if self.policies[pid].effect == "forbid"]
        permits = [pid for pid in ordered if self.policies[pid].effect == "permit"]
        if forbids:
            first = next((pid for pid in forbids if self.policies[pid].reason), forbids[0])
            reason = self.policies[first].reason
            text = f"denied by rule {first}" + (f": {reason}" if reason else "")
            return Decision.deny(text, tuple(forbids))
        if permits and allowed and not failed:
            word = "rule" if len(permits) == 1 else "rules"
            requires = tuple(r for pid in permits for r in self.requirements.get(pid, ()))
            return Decision(True, f"allowed by {word} {', '.join(permits)}", tuple(permits), requires)
        if failed and allowed:
            return Decision.deny(
                f"denied: rule {failed[0]} could not be evaluated (an admin should run opsroom check)",
                tuple(failed),
            )
        return _NOTHING_ALLOWS

    def request(
        self,
        principal: Principal,
        command: str,
        args: Mapping[str, Any],
        place: Place,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The Cedar request for this question (also handy for `opsroom policy explain`)."""
        moment = now or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(self._tz)
        return {
            "principal": {"type": "User" if principal.known else "Guest", "id": principal.name},
            "action": {"type": "Action", "id": command},
            "resource": {"type": "Channel", "id": place.name},
            "context": {
                "args": cedar_args(args),
                "channel": place.name,
                "platform": place.platform,
                "direct": place.is_direct,
                "known_user": principal.known,
                "weekday": DAYS[local.weekday()],
                "hour": local.hour,
                "minute": local.minute,
                "hhmm": local.hour * 100 + local.minute,
                "date": local.date().isoformat(),
            },
        }

    # -- helpers --------------------------------------------------------------------------

    def _entities_for(self, principal: Principal) -> cedarpy.Entities:
        if not principal.known:
            return self._no_entities  # guests have no roles; their entity need not exist
        key = (principal.name, principal.roles, principal.groups)
        cached = self._entities.get(key)
        if cached is not None:
            return cached
        parents = [{"type": "Role", "id": r} for r in sorted(principal.roles)]
        parents += [{"type": "Group", "id": g} for g in sorted(principal.groups)]
        doc = [{"uid": {"type": "User", "id": principal.name}, "attrs": {}, "parents": parents}]
        handle = cedarpy.Entities.from_json_str(json.dumps(doc))
        self._entities[key] = handle
        if len(self._entities) > _MAX_CACHED_PRINCIPALS:
            self._entities.popitem(last=False)
        return handle

    def _sorted(self, ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda pid: self._order.get(pid, len(self._order)))

    def _failed_forbids(self, errors: list[str], principal: Principal, command: str) -> list[str]:
        failed: list[str] = []
        for error in errors:
            log.warning("policy evaluation error for %s running %s: %s", principal.name, command, error)
            match = _POLICY_IN_ERROR.search(error)
            if match and match.group(1) in self.policies and self.policies[match.group(1)].effect == "forbid":
                failed.append(match.group(1))
        return self._sorted(failed)

    def _nothing_allows(self, principal: Principal, command: str, args: Mapping[str, Any], place: Place) -> str:
        shown = [
            f"{name}={_shown(args[name])}"
            for name in self._shown_args.get(command, ()) + self._shown_args.get("*", ())
            if args.get(name) is not None
        ]
        with_args = f" with {' '.join(dict.fromkeys(shown))}" if shown else ""
        where = "in a direct message" if place.is_direct else f"in {place.name}"
        hint = "" if principal.known else "; you are not a configured opsroom user"
        return f"{principal.name} may not run {command}{with_args} {where} (no rule allows it{hint})"

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self.policies)

    def cedar_text(self) -> str:
        """All policies as Cedar text, shorthand compiled, each source headed by its name."""
        return "\n".join(f"// ---- {s.name}\n{s.text.rstrip()}\n" for s in self.sources)


def _shown_args(policy: PolicyConfig) -> dict[str, tuple[str, ...]]:
    """Per command, the argument names rules test: a denial names their values so the user
    sees what was refused. Only these, so secret arguments are never echoed."""
    shown: dict[str, dict[str, None]] = {}
    for rule in policy.rules:
        for command in rule.commands:
            for name in rule.when:
                shown.setdefault(command, {})[name] = None
    return {command: tuple(names) for command, names in shown.items()}


def _user_warnings(policy: PolicyConfig, users: Mapping[str, UserConfig]) -> list[str]:
    """Names in rules that match nobody: most likely typos, and such a rule is dead."""
    roles = {r for u in users.values() for r in u.roles}
    groups = {g for u in users.values() for g in u.groups}
    warnings: list[str] = []
    for rule in policy.rules:
        for name in rule.users:
            if name != "*" and name not in users:
                warnings.append(f"rule {rule.id}: there is no configured user {name!r}")
        for kind, names, known in (("role", rule.roles, roles), ("group", rule.groups, groups)):
            for name in names:
                if name != "*" and name not in known:
                    warnings.append(f"rule {rule.id}: no configured user has {kind} {name!r}")
    return warnings
