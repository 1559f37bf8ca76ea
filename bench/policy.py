"""Policy decisions per second: a 50-rule policy, 500 users, reused (cached) Cedar handles.

Run: .venv/bin/python bench/policy.py [N]
Prints decisions/s and p50/p99 latency for warm decisions (every principal's entities
cached), the first decision per principal (cache miss), and, for scale, re-parsing the
policy on every call the way a naive integration would.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cedarpy

from opsroom.config.models import UserConfig
from opsroom.config.policy import PolicyConfig
from opsroom.core import Place, Principal
from opsroom.policy import PolicyEngine

COMMANDS = [f"cmd{i}" for i in range(30)] + ["deploy", "rollback", "restart", "scale", "status", "logs"]
ROLES = [f"team{i}" for i in range(20)] + ["sre", "developer", "oncall"]
ENVS = ["dev", "staging", "production"]
CHANNELS = ["#ops", "#deploys", "#random", "#team"]


def build_policy(rng: random.Random) -> PolicyConfig:
    rules: list[dict[str, object]] = []
    for i in range(40):  # grants with a mix of conditions
        rule: dict[str, object] = {
            "id": f"grant-{i}",
            "allow": rng.sample(COMMANDS, 4),
            "roles": rng.sample(ROLES, 2),
        }
        if i % 2:
            rule["when"] = {"env": rng.sample(ENVS, 2)}
        if i % 3 == 0:
            rule["channels"] = rng.sample(CHANNELS, 2)
        if i % 5 == 0:
            rule["during"] = "Mon-Fri 08:00-20:00"
        rules.append(rule)
    for i in range(8):  # guards
        rules.append({
            "id": f"guard-{i}",
            "deny": rng.sample(COMMANDS, 3),
            "roles": ["*"],
            "when": {"env": "production"},
            "during": ["Sat-Sun", "Fri 16:00-24:00"][i % 2],
            "reason": "production is frozen now",
        })
    rules.append({"id": "everyone-reads", "allow": ["status", "logs"], "users": ["*"]})
    rules.append({"id": "sre-all", "allow": "*", "roles": ["sre"]})
    return PolicyConfig.model_validate({"rules": rules})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, latencies: list[float]) -> None:
    total = sum(latencies)
    print(
        f"{label:<34} {len(latencies) / total:>9,.0f} decisions/s   "
        f"p50 {percentile(latencies, 0.50) * 1000:.3f} ms   p99 {percentile(latencies, 0.99) * 1000:.3f} ms"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rng = random.Random(7)
    policy = build_policy(rng)
    users = {f"user{i}": UserConfig(roles=rng.sample(ROLES, rng.randint(0, 3))) for i in range(500)}
    principals = [Principal(name, frozenset(u.roles)) for name, u in users.items()]
    principals.append(Principal.anonymous("slack", "U0STRANGER"))

    start = time.perf_counter()
    engine = PolicyEngine.from_config(policy, users, Path("."))
    print(f"policy: {len(engine.rule_ids)} rules, {len(users)} users; "
          f"engine built in {(time.perf_counter() - start) * 1000:.1f} ms")

    base = datetime(2025, 3, 3, tzinfo=UTC)
    requests = [
        (
            rng.choice(principals),
            rng.choice(COMMANDS),
            {"service": "api", "env": rng.choice(ENVS), "replicas": rng.randint(1, 20)},
            Place("slack", "C1", channel_name=rng.choice(CHANNELS)),
            base + timedelta(minutes=rng.randint(0, 7 * 24 * 60)),
        )
        for _ in range(n)
    ]

    cold: list[float] = []
    for p in principals:  # first decision per principal builds its entity handle
        t0 = time.perf_counter()
        engine.decide(p, "status", {}, Place("web", "ops", channel_name="#ops"), base)
        cold.append(time.perf_counter() - t0)

    allowed = 0
    warm: list[float] = []
    for p, cmd, args, place, now in requests:
        t0 = time.perf_counter()
        decision = engine.decide(p, cmd, args, place, now)
        warm.append(time.perf_counter() - t0)
        allowed += decision.allowed

    reparsed: list[float] = []
    text = engine.cedar_text()
    for p, cmd, args, place, now in requests[:100]:
        t0 = time.perf_counter()
        request = engine.request(p, cmd, args, place, now)
        cedarpy.is_authorized(request, text, "[]")
        reparsed.append(time.perf_counter() - t0)

    report("warm (cached handles)", warm)
    report("first decision per principal", cold)
    report("re-parsing per call (for scale)", reparsed)
    print(f"allowed {allowed} of {n} ({allowed / n:.0%}); mean {statistics.mean(warm) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
