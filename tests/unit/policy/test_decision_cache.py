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
from opsroom.core import Place, Principal
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


def _engine(tmp_path: Path, extra: str = "") -> PolicyEngine:
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
    users = {
        "ann": UserConfig(roles=["ops"]),
        "ben": UserConfig(roles=["dev"]),
        "cid": UserConfig(roles=["ops", "dev"]),
        "dee": UserConfig(roles=[]),
    }
    return PolicyEngine.from_config(policy, users, tmp_path)


ARGS: list[dict[str, object]] = [
    {"env": "production", "replicas": 3, "service": "api"},
    {"env": "staging", "replicas": 6, "service": "db", "verbose": True},
    {"env": "PRODUCTION", "replicas": "3", "verbose": 1},
    {"service": "vault", "replicas": 0, "verbose": "true"},
    {},
]


def _requests(n: int) -> list[tuple[Principal, str, dict[str, object], Place, datetime]]:
    """Few kinds of request at many times, so keys repeat (hits) on both sides of every
    window edge (08:59/09:00, 16:59/17:00, 21:59/22:00, xx:29/xx:30, Fri/Sat)."""
    rng = random.Random(5)
    people = [
        Principal("ann", frozenset({"ops"})),
        Principal("ben", frozenset({"dev"})),
        Principal("cid", frozenset({"ops", "dev"})),
        Principal("dee"),
        Principal.anonymous("slack", "U1"),
    ]
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


def _plain_cedarpy(engine: PolicyEngine, policy_json: str, request: tuple) -> tuple[bool, set[str]]:  # type: ignore[type-arg]
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
    failed = {
        pid
        for e in result.diagnostics.errors
        for pid in engine.policies
        if f"policy `{pid}`" in e and engine.policies[pid].effect == "forbid"
    }
    if failed and result.allowed:
        return False, failed
    return result.allowed, set(result.diagnostics.reasons)


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


@pytest.mark.parametrize("extra", ["", SCOPES], ids=["rules", "rules+scopes"])
def test_cached_decisions_equal_plain_cedarpy_on_2000_requests(tmp_path: Path, extra: str) -> None:
    engine = _engine(tmp_path, extra)
    policy_json = json.dumps(
        {"staticPolicies": {pid: p.est for pid, p in engine.policies.items()}, "templates": {}, "templateLinks": []}
    )
    requests = _requests(2000)
    for request in requests + requests[::-1]:  # second pass: every decision from the cache
        decision = engine.decide(*request)
        assert (decision.allowed, set(decision.rule_ids)) == _plain_cedarpy(engine, policy_json, request), request
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
