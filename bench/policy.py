"""Policy decisions: a 50-rule policy, 500 users, µs per decision before and after the
exact decision cache (opsroom/policy/decision_cache.py, plans.py).

Run: .venv/bin/python bench/policy.py [N] [--chat-like]

- before: one cedarpy evaluation per decision (parsed policy set and entity handles reused),
  what ``PolicyEngine.decide`` did until the cache;
- each Cedar call now: what a cache miss costs in Cedar (the command's candidate policies,
  only the context the plan's policies read); plans decided by entity tests alone need none;
- after: ``decide`` as it is, on a stream of N decisions spread over one working day
  (times rise through the day, as real traffic does); prints the hit rate, and hits and
  misses apart (a miss adds a cache entry: one Cedar call; decisions made without Cedar
  count as hits), and the CPU time per decision;
- first decision per principal, and re-parsing the policy text on every call, for scale.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
        rules.append(
            {
                "id": f"guard-{i}",
                "deny": rng.sample(COMMANDS, 3),
                "roles": ["*"],
                "when": {"env": "production"},
                "during": ["Sat-Sun", "Fri 16:00-24:00"][i % 2],
                "reason": "production is frozen now",
            }
        )
    rules.append({"id": "everyone-reads", "allow": ["status", "logs"], "users": ["*"]})
    rules.append({"id": "sre-all", "allow": "*", "roles": ["sre"]})
    return PolicyConfig.model_validate({"rules": rules})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, latencies: list[float]) -> None:
    if not latencies:
        print(f"{label:<34} none")
        return
    total = sum(latencies)
    print(
        f"{label:<34} {len(latencies) / total:>9,.0f} decisions/s   mean {total / len(latencies) * 1e6:7.1f} µs   "
        f"p50 {percentile(latencies, 0.50) * 1e6:7.1f} µs   p99 {percentile(latencies, 0.99) * 1e6:7.1f} µs"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20_000
    rng = random.Random(7)
    policy = build_policy(rng)
    users = {f"user{i}": UserConfig(roles=rng.sample(ROLES, rng.randint(0, 3))) for i in range(500)}
    principals = [Principal(name, frozenset(u.roles)) for name, u in users.items()]
    principals.append(Principal.anonymous("slack", "U0STRANGER"))

    start = time.perf_counter()
    engine = PolicyEngine.from_config(policy, users, Path("."))
    print(
        f"policy: {len(engine.rule_ids)} rules, {len(users)} users; "
        f"engine built in {(time.perf_counter() - start) * 1000:.1f} ms"
    )

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

    # A working day: times rise from 08:00 over ten hours, in order. With --chat-like, who
    # asks and what they run follow a Zipf law (a few people run most commands, mostly the
    # same few), as in a team's channel; by default every combination is equally likely.
    if "--chat-like" in sys.argv:

        def zipf(items: list, s: float = 1.2) -> Any:  # type: ignore[type-arg]
            return items[min(int(rng.paretovariate(s)) - 1, len(items) - 1)]

        requests = [
            (
                zipf(principals),
                zipf(COMMANDS[-6:] + COMMANDS[:30]),
                {"service": zipf(["api", "payments", "auth"]), "env": zipf(ENVS[::-1]), "replicas": zipf([2, 3, 4])},
                Place("slack", "C1", channel_name=zipf(CHANNELS)),
                base,
            )
            for _ in range(n)
        ]
    day = [
        (p, c, a, pl, base.replace(hour=8) + timedelta(seconds=36_000 * i / n))
        for i, (p, c, a, pl, _) in enumerate(requests)
    ]

    before: list[float] = []  # whole policy set, whole context: every decision until the cache
    evaluated: list[float] = []  # one Cedar call today: the plan's live policies, the context they read
    for p, cmd, args, place, now in day:
        t0 = time.perf_counter()
        cedarpy.is_authorized(engine.request(p, cmd, args, place, now), engine._policy_set, engine._entities_for(p))
        t1 = time.perf_counter()
        plan = engine._planner.plan(p, cmd, place.name)
        if plan.projection is not None:  # plans decided by atoms alone never call Cedar
            engine._evaluate(engine.request(p, cmd, args, place, now), plan, p, cmd)
            evaluated.append(time.perf_counter() - t1)
        before.append(t1 - t0)

    fresh = PolicyEngine.from_config(policy, users, Path("."))
    after: list[float] = []
    hits: list[float] = []
    misses: list[float] = []
    allowed = 0
    cpu = time.process_time()
    for p, cmd, args, place, now in day:
        size = len(fresh._decisions)
        t0 = time.perf_counter()
        decision = fresh.decide(p, cmd, args, place, now)
        took = time.perf_counter() - t0
        after.append(took)
        (misses if len(fresh._decisions) > size else hits).append(took)
        allowed += decision.allowed
    cpu = time.process_time() - cpu

    reparsed: list[float] = []
    text = engine.cedar_text()
    for p, cmd, args, place, now in requests[:100]:
        t0 = time.perf_counter()
        request = engine.request(p, cmd, args, place, now)
        cedarpy.is_authorized(request, text, "[]")
        reparsed.append(time.perf_counter() - t0)

    report("before: cedarpy each decision", before)
    report(f"each Cedar call now ({len(evaluated) / n:.0%} need one)", evaluated)
    report("after: decide() with the cache", after)
    report(f"  of which hits ({len(hits) / n:.0%})", hits)
    report(f"  of which misses ({len(misses) / n:.0%})", misses)
    report("first decision per principal", cold)
    report("re-parsing per call (for scale)", reparsed)
    print(
        f"allowed {allowed} of {n} ({allowed / n:.0%}); mean before {statistics.mean(before) * 1e6:.1f} µs, "
        f"after {statistics.mean(after) * 1e6:.1f} µs (CPU {cpu / n * 1e6:.1f} µs a decision, timers included)"
    )


if __name__ == "__main__":
    main()
