"""Plans (live policies, keys on atoms) never change a decision: random policy sets built
from every atom form, conditions mixing atoms with context reads, attributes, the resource
and User literals, each decided by the engine (cached) and by plain cedarpy with the whole
set; the whole Decision must match. Complements the hand-written table in
test_decision_cache.py (pytest puts this directory on sys.path)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_decision_cache import MORE_PEOPLE, _expected, _requests

from opsroom.config.models import UserConfig
from opsroom.config.policy import PolicyConfig
from opsroom.policy import PolicyEngine

ATOMS = [
    'principal in Role::"ops"',
    'principal in [Role::"dev", Group::"payments"]',
    "principal is User",
    "principal is Guest",
    'principal == User::"bob"',
    'principal is User in Role::"intern"',
    'resource == Channel::"#ops"',
    'resource in [Channel::"#random"]',
    'action == Action::"deploy"',
    'action in [Action::"logs", Action::"scale"]',
    "true",
    "false",
]
READS = [
    "context.args has env",
    "context.args.replicas > 2",  # fails when replicas is a string or absent
    "context.hour < 12",
    'context.channel == "#ops"',
    "context.direct",
    'principal.team == "x"',
    'User::"ann" in Role::"ops"',
    "principal == resource",
    'context.args.env == "production"',
]
SCOPES = (
    ["principal", 'principal in Role::"ops"', 'principal == User::"ben"', "principal is User",
     'principal is User in Group::"payments"'],
    ["action", 'action == Action::"deploy"', 'action in [Action::"logs", Action::"restart", Action::"scale"]',
     'action in Action::"status"'],
    ["resource", 'resource == Channel::"#ops"', "resource is Channel", 'resource in Channel::"#random"'],
)  # fmt: skip


def _expr(rng: random.Random, pure: bool, depth: int = 0) -> str:
    if depth > 2 or rng.random() < 0.4:
        return rng.choice(ATOMS if pure or rng.random() < 0.5 else READS)
    op = rng.choice(["&&", "||", "!", "if"])
    if op == "!":
        return f"!({_expr(rng, pure, depth + 1)})"
    if op == "if":
        parts = [_expr(rng, pure, depth + 1) for _ in range(3)]
        return f"(if {parts[0]} then {parts[1]} else {parts[2]})"
    return f"({_expr(rng, pure, depth + 1)} {op} {_expr(rng, pure, depth + 1)})"


def _policies(rng: random.Random) -> str:
    out = []
    for n in range(rng.randint(3, 12)):
        effect = rng.choice(["permit", "permit", "forbid"])
        scope = ", ".join(rng.choice(options) for options in SCOPES)
        conditions = "".join(
            f" {rng.choice(['when', 'when', 'unless'])} {{ {_expr(rng, rng.random() < 0.5)} }}"
            for _ in range(rng.randint(0, 3))
        )
        out.append(f'@id("f{n}") {effect} ({scope}){conditions};\n')
    return "".join(out)


@pytest.mark.parametrize("seed", range(10))
def test_random_policy_sets_decide_as_plain_cedarpy(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    (tmp_path / "f.cedar").write_text(_policies(rng))
    users = {p.name: UserConfig(roles=sorted(p.roles), groups=sorted(p.groups)) for p in MORE_PEOPLE if p.known}
    engine = PolicyEngine.from_config(PolicyConfig.model_validate({"files": ["f.cedar"]}), users, tmp_path)
    policy_json = json.dumps(
        {"staticPolicies": {pid: p.est for pid, p in engine.policies.items()}, "templates": {}, "templateLinks": []}
    )
    requests = _requests(200, MORE_PEOPLE)
    for request in requests + requests[::-1]:
        assert engine.decide(*request) == _expected(engine, policy_json, request), request
