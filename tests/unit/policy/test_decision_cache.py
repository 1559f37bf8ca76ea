"""The decision cache never changes a decision: 2,000 generated requests, each decided by the
engine (cached, most of them hits on a key another request filled) and by plain cedarpy
(request, policy set and entities handed over fresh), give the same allow/deny and the same
determining policy ids. The policies read the context in every way the key treats
differently: time windows (compared with constants), argument values and presence, the
channel, arithmetic on the time, the whole context, and a forbid that fails to evaluate."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cedarpy
import pytest

from opsroom.config.models import UserConfig
from opsroom.config.policy import PolicyConfig
from opsroom.core import Decision, Place, Principal
from opsroom.policy import PolicyEngine
from opsroom.policy.decision_cache import ContextProjection

RAW = """
@id("raw-arithmetic")
permit (principal, action == Action::"logs", resource) when { context.hour + 1 > 19 };
@id("raw-broken-forbid")
forbid (principal, action == Action::"scale", resource) when { context.args.replicas > "3" };
@id("raw-has")
permit (principal in Role::"dev", action == Action::"status", resource) when { context.args has verbose };
@id("raw-direct")
forbid (principal, action == Action::"restart", resource) when { context.direct && context.minute < 30 };
"""
WHOLE = '@id("raw-whole")\npermit (principal, action == Action::"whoami", resource) when { context == {} };\n'


def _engine(tmp_path: Path, extra: str = "", people: list[Principal] | None = None) -> PolicyEngine:
    (tmp_path / "raw.cedar").write_text(RAW + extra)
    policy = PolicyConfig.model_validate(
        {
            "files": ["raw.cedar"],
            "rules": [
                {
                    "id": "ops-deploy",
                    "allow": ["deploy", "rollback"],
                    "roles": ["ops"],
                    "when": {"env": ["dev", "staging"]},
                },
                {
                    "id": "ops-prod-hours",
                    "allow": ["deploy"],
                    "roles": ["ops"],
                    "when": {"env": "production"},
                    "during": "Mon-Fri 09:00-17:00",
                    "channels": ["#ops"],
                },
                {
                    "id": "freeze",
                    "deny": ["deploy", "rollback"],
                    "roles": ["*"],
                    "during": ["Fri 16:00-24:00", "Sat-Sun"],
                    "when": {"env": "production"},
                    "reason": "frozen",
                },
                {
                    "id": "scale-range",
                    "allow": ["scale"],
                    "roles": ["ops", "dev"],
                    "when": {"replicas": {"min": 1, "max": 5}},
                },
                {"id": "not-db", "allow": ["restart"], "roles": ["dev"], "when": {"service": {"not": ["db", "vault"]}}},
                {"id": "flag", "allow": ["status"], "users": ["*"], "when": {"verbose": True}},
                {"id": "web-only", "allow": ["logs"], "roles": ["dev"], "platforms": ["web"], "outside": "22:00-06:00"},
            ],
        }
    )
    users = {p.name: UserConfig(roles=sorted(p.roles), groups=sorted(p.groups)) for p in people or PEOPLE if p.known}
    return PolicyEngine.from_config(policy, users, tmp_path)


ARGS: list[dict[str, object]] = [
    {"env": "production", "replicas": 3, "service": "api"},
    {"env": "staging", "replicas": 6, "service": "db", "verbose": True},
    {"env": "PRODUCTION", "replicas": "3", "verbose": 1},
    {"service": "vault", "replicas": 0, "verbose": "true"},
    {},
]


PEOPLE = [
    Principal("ann", frozenset({"ops"})),
    Principal("ben", frozenset({"dev"})),
    Principal("cid", frozenset({"ops", "dev"})),
    Principal("dee"),
    Principal.anonymous("slack", "U1"),
]
# More people: same roles under other names (they share cached decisions unless a policy
# names one of them), groups, a role only a scope tests, a second guest.
MORE_PEOPLE = [
    *PEOPLE,
    Principal("bob", frozenset({"dev"})),
    Principal("fay", frozenset({"dev"})),
    Principal("hal", frozenset({"ops"})),
    Principal("eve", frozenset({"dev"}), groups=frozenset({"payments"})),
    Principal("gus", frozenset({"intern"})),
    Principal("ivy", frozenset({"ops", "intern"}), groups=frozenset({"payments"})),
    Principal.anonymous("slack", "U2"),
]


def _requests(
    n: int, people: list[Principal] = PEOPLE
) -> list[tuple[Principal, str, dict[str, object], Place, datetime]]:
    """Few kinds of request at many times, so keys repeat (hits) on both sides of every
    window edge (08:59/09:00, 16:59/17:00, 21:59/22:00, xx:29/xx:30, Fri/Sat)."""
    rng = random.Random(5)
    places = [
        Place("slack", "C1", channel_name="#ops"),
        Place("web", "random", channel_name="#random"),
        Place("web", "dm:ann", is_direct=True),
    ]
    base = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    out = []
    for _ in range(n):
        minute = rng.choice([0, 29, 30, 59, 8 * 60 + 59, 9 * 60, 16 * 60 + 59, 17 * 60, 18 * 60, 21 * 60 + 59, 22 * 60])
        now = base + timedelta(days=rng.choice([0, 4, 5]), minutes=minute + rng.choice([0, 0, 1]))
        out.append(
            (
                rng.choice(people),
                rng.choice(["deploy", "rollback", "scale", "restart", "status", "logs", "whoami"]),
                rng.choice(ARGS),
                rng.choice(places),
                now,
            )
        )
    return out


def _plain_result(engine: PolicyEngine, policy_json: str, request: tuple) -> tuple[bool, list[str], list[str]]:  # type: ignore[type-arg]
    """Plain cedarpy, everything handed over fresh: (allowed, reasons, failed forbids)."""
    principal, command, args, place, now = request
    cedar_request = engine.request(principal, command, args, place, now)
    entities = (
        []
        if not principal.known
        else [
            {
                "uid": {"type": "User", "id": principal.name},
                "attrs": {},
                "parents": [{"type": "Role", "id": r} for r in sorted(principal.roles)]
                + [{"type": "Group", "id": g} for g in sorted(principal.groups)],
            }
        ]
    )
    result = cedarpy.is_authorized(cedar_request, cedarpy.PolicySet.from_json_str(policy_json), json.dumps(entities))
    order = list(engine.policies)
    failed = {
        pid
        for e in result.diagnostics.errors
        for pid in engine.policies
        if f"policy `{pid}`" in e and engine.policies[pid].effect == "forbid"
    }
    return result.allowed, sorted(result.diagnostics.reasons, key=order.index), sorted(failed, key=order.index)


def _plain_cedarpy(engine: PolicyEngine, policy_json: str, request: tuple) -> tuple[bool, set[str]]:  # type: ignore[type-arg]
    allowed, reasons, failed = _plain_result(engine, policy_json, request)
    if failed and allowed:
        return False, set(failed)
    return allowed, set(reasons)


def _expected(engine: PolicyEngine, policy_json: str, request: tuple) -> Decision:  # type: ignore[type-arg]
    """The whole Decision (reason text, requirements) from plain cedarpy's outcome, worded
    as the engine did before decisions were shared between people."""
    principal, command, args, place, _ = request
    allowed, fired, failed = _plain_result(engine, policy_json, request)
    if allowed and not failed:
        word = "rule" if len(fired) == 1 else "rules"
        requires = tuple(r for pid in fired for r in engine.requirements.get(pid, ()))
        return Decision(True, f"allowed by {word} {', '.join(fired)}", tuple(fired), requires)
    if failed and allowed:
        text = f"denied: rule {failed[0]} could not be evaluated (an admin should run opsroom check)"
        return Decision.deny(text, tuple(failed))
    if fired:
        first = next((pid for pid in fired if engine.policies[pid].reason), fired[0])
        reason = engine.policies[first].reason
        return Decision.deny(f"denied by rule {first}" + (f": {reason}" if reason else ""), tuple(fired))
    return Decision.deny(engine._nothing_allows(principal, command, args, place), ())


# Action scopes of every form: a list, one entity with `in`, none at all (the engine hands
# Cedar only the policies whose scope can hold for the action asked; this proves it exact).
SCOPES = """
@id("raw-list")
permit (principal in Role::"dev", action in [Action::"deploy", Action::"logs"], resource)
  when { context.args has service };
@id("raw-in-one")
forbid (principal, action in Action::"rollback", resource) when { context.channel == "#random" };
@id("raw-any-action")
forbid (principal, action, resource) when { context.args has service && context.args.service == "vault" };
"""


# Policies about who asks, in every form the plan analysis treats differently: a person named
# in a scope or a condition, `in` a group, `is … in`, `unless` on atoms, an atom after a
# condition on the context, an error before an atom and an atom before an error, `if`
# mixing atoms and context, an attribute of the principal, the principal compared with a
# resource attribute or with the resource, a User literal reading the entity store,
# `principal in` a context value, and resource scopes and atoms.
WHO = """
@id("w-bob") permit (principal == User::"bob", action == Action::"deploy", resource) when { context.args has env };
@id("w-group") permit (principal in Group::"payments", action in [Action::"logs", Action::"restart"], resource);
@id("w-intern") forbid (principal is User in Role::"intern", action, resource == Channel::"#ops")
  unless { context.direct };
@id("w-attr") permit (principal, action == Action::"status", resource)
  when { principal has team && principal.team == "x" };
@id("w-owner") forbid (principal, action == Action::"rollback", resource)
  when { resource has owner && principal == resource.owner };
@id("w-same") permit (principal, action == Action::"rollback", resource) unless { principal == resource };
@id("w-literal") permit (principal, action == Action::"scale", resource)
  when { User::"ann" in Role::"ops" && context.args has replicas };
@id("w-unless") forbid (principal, action == Action::"restart", resource)
  unless { principal in [Role::"ops", Role::"dev"] || principal is Guest };
@id("w-late") permit (principal, action == Action::"logs", resource)
  when { context.hour >= 9 } when { principal in Group::"payments" || principal == User::"eve" };
@id("w-error-first") forbid (principal, action == Action::"whoami", resource)
  when { context.args.replicas > 2 } when { principal in Role::"dev" };
@id("w-guard-first") forbid (principal, action == Action::"scale", resource)
  when { principal in Role::"ops" } when { context.args.replicas > "3" };
@id("w-users") permit (principal is User, action == Action::"whoami", resource) when { !(principal in Role::"intern") };
@id("w-if") permit (principal, action == Action::"status", resource)
  when { if principal in Role::"dev" then context.channel == "#random" else false };
@id("w-ctx") permit (principal, action == Action::"deploy", resource) when { principal in context.args.service };
@id("w-res") forbid (principal in Role::"ops", action == Action::"status", resource in Channel::"#random")
  when { resource == Channel::"#random" && context.args has verbose };
"""


@pytest.mark.parametrize(
    ("extra", "people"),
    [("", PEOPLE), (SCOPES, PEOPLE), (SCOPES + WHO, MORE_PEOPLE)],
    ids=["rules", "rules+scopes", "rules+scopes+who"],
)
def test_cached_decisions_equal_plain_cedarpy_on_2000_requests(
    tmp_path: Path, extra: str, people: list[Principal]
) -> None:
    engine = _engine(tmp_path, extra, people)
    policy_json = json.dumps(
        {"staticPolicies": {pid: p.est for pid, p in engine.policies.items()}, "templates": {}, "templateLinks": []}
    )
    requests = _requests(2000, people)
    for request in requests + requests[::-1]:  # second pass: every decision from the cache
        decision = engine.decide(*request)
        assert (decision.allowed, set(decision.rule_ids)) == _plain_cedarpy(engine, policy_json, request), request
        assert decision == _expected(engine, policy_json, request), request
    hits = 2 * len(requests) - len(engine._decisions)
    assert len(engine._decisions) < len(requests), "the cache never hit: keys too fine to help"
    assert hits > len(requests)
    outcomes = {engine.decide(*r).allowed for r in requests}
    assert outcomes == {True, False}


def test_the_key_keeps_what_policies_read(tmp_path: Path) -> None:
    projection = ContextProjection(p.est for p in _engine(tmp_path).policies.values())
    assert not projection.everything
    assert projection.cells.get("minute") == {30}
    assert "hour" in projection.whole  # read with arithmetic: its exact value counts
    assert projection.cells.get("hhmm") == {600, 900, 1600, 1700, 2200, 2400}
    assert projection.members["args"] == {"env", "replicas", "service", "verbose"}
    assert "date" not in projection.whole and "weekday" in projection.whole
    ctx = {"args": {"replicas": 1}, "minute": 10, "hhmm": 910, "direct": True}
    assert projection.key(ctx) == projection.key({**ctx, "minute": 20, "hhmm": 1559, "date": "2026-01-01"})
    assert projection.key(ctx) != projection.key({**ctx, "hhmm": 1600})
    assert projection.key(ctx) != projection.key({**ctx, "minute": 30})
    assert projection.key(ctx) != projection.key({**ctx, "args": {"replicas": True}})
    assert projection.key(ctx) != projection.key({**ctx, "args": {}})
    whole = ContextProjection(p.est for p in _engine(tmp_path, WHOLE).policies.values())
    assert whole.everything and whole.key(ctx) != whole.key({**ctx, "date": "2026-01-01"})


def test_people_with_the_same_roles_share_decisions_unless_a_policy_names_them(tmp_path: Path) -> None:
    engine = _engine(tmp_path, SCOPES + WHO, MORE_PEOPLE)
    shapes = engine._planner.shapes
    assert not shapes["w-bob"].opaque and not shapes["w-late"].unknown
    assert shapes["w-literal"].opaque == {"principal"}  # User::"ann" reads the entity store
    assert shapes["w-same"].opaque == {"principal", "resource"}
    assert shapes["w-owner"].opaque == {"principal", "resource"}
    assert [pure[0] for _, pure in shapes["w-error-first"].leading] == []  # the error comes first
    ben, fay, bob = (next(p for p in MORE_PEOPLE if p.name == n) for n in ("ben", "fay", "bob"))
    args = {"env": "staging", "service": "api", "verbose": True}
    # logs, restart: only atoms of the principal; status, deploy, rollback: a policy reads the
    # principal otherwise (an attribute, `in` a context value, compared with the resource).
    for command, shared in (
        ("logs", True),
        ("restart", True),
        ("status", False),
        ("deploy", False),
        ("rollback", False),
    ):
        engine.decide(ben, command, args, RANDOM_PLACE, MONDAY)
        size = len(engine._decisions)
        engine.decide(fay, command, args, RANDOM_PLACE, MONDAY)
        assert (len(engine._decisions) == size) == shared, command
    assert "w-bob" in engine.decide(bob, "deploy", args, RANDOM_PLACE, MONDAY).rule_ids
    assert "w-bob" not in engine.decide(fay, "deploy", args, RANDOM_PLACE, MONDAY).rule_ids
    assert engine.decide(ben, "flush", args, RANDOM_PLACE, MONDAY).reason.startswith("ben may not run flush")
    assert engine.decide(fay, "flush", args, RANDOM_PLACE, MONDAY).reason.startswith("fay may not run flush")


RANDOM_PLACE = Place("web", "random", channel_name="#random")
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_what_the_analysis_does_not_model_is_kept_exact() -> None:
    from opsroom.policy.scope_atoms import AtomTable

    template = json.loads(cedarpy.policies_to_json_str("permit (principal == ?principal, action, resource);"))
    shape = AtomTable().shape(next(iter(template["templates"].values())))
    assert shape.unknown and shape.opaque == {"principal", "action", "resource"}
