"""The demo's runnable actions: ``python -m opsroom.demo.actions deploy payments staging v1``.

They behave like real deploy tooling seen from chat: progress over a few seconds, a
non-zero exit on failure (deploying version ``bad`` fails health checks), state kept in
the demo inventory. OPSROOM_DEMO_SPEED scales the pauses (tests use a small value).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from opsroom.demo import inventory

SPEED = float(os.environ.get("OPSROOM_DEMO_SPEED", "1"))


def say(text: str, pause: float = 0.6) -> None:
    print(text, flush=True)
    time.sleep(pause * SPEED)


def fail(text: str, code: int = 1) -> int:
    print(text, file=sys.stderr, flush=True)
    return code


def _target(data: dict[str, Any], service: str, env: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = data["services"].get(service, {}).get(env)
    return found


def deploy(service: str, env: str, version: str) -> int:
    if version == "latest":
        version = inventory.read()["services"][service]["dev"]["version"]
    say(f"Deploying {service} {version} to {env}")
    say(f"Pulling image registry.demo/{service}:{version}")
    if version == "bad":
        say("Rolling out 1 new pod")
        return fail(
            f"Health check failed: {service}:{version} answered 503 on /healthz — rollout halted, "
            f"{env} still serves the previous version"
        )
    with inventory.locked() as data:
        target = _target(data, service, env)
        if target is None:
            return fail(f"{service} has no {env} environment")
        replicas = target["replicas"]
    for i in range(1, replicas + 1):
        say(f"Rolling out pod {i}/{replicas}", 0.4)
    with inventory.locked() as data:
        target = _target(data, service, env)
        assert target is not None
        previous = target["version"]
        target["version"] = version
        target["status"] = "healthy"
        target["history"] = (target["history"] + [version])[-10:]
    say(f"Health checks passing; {service} in {env}: {previous} → {version}", 0)
    return 0


def rollback_check(service: str, version: str, env: str) -> int:
    """The rollback's pre-flight (read-only): refuses at once what the rollback would refuse."""
    target = _target(inventory.read(), service, env)
    if target is None:
        return fail(f"{service} has no {env} environment")
    if version not in target["history"]:
        known = ", ".join(target["history"])
        return fail(f"{version} was never deployed to {service} in {env} (known: {known})")
    if version == target["version"]:
        return fail(f"{service} in {env} already runs {version}; there is nothing to roll back")
    return 0


def rollback(service: str, version: str, env: str) -> int:
    refused = rollback_check(service, version, env)
    if refused:
        return refused
    target = _target(inventory.read(), service, env)
    assert target is not None
    say(f"Rolling back {service} in {env}: {target['version']} → {version}")
    say(f"Re-deploying registry.demo/{service}:{version}")
    for i in range(1, target["replicas"] + 1):
        say(f"Replacing pod {i}/{target['replicas']}", 0.3)
    with inventory.locked() as data:
        t = _target(data, service, env)
        assert t is not None
        t["version"] = version
        t["status"] = "healthy"
        t["history"] = (t["history"] + [version])[-10:]
    say(f"Rollback complete; {service} in {env} runs {version}", 0)
    return 0


def restart(service: str, env: str) -> int:
    target = _target(inventory.read(), service, env)
    if target is None:
        return fail(f"{service} has no {env} environment")
    for i in range(1, target["replicas"] + 1):
        say(f"Restarting pod {i}/{target['replicas']} of {service} in {env}", 0.3)
    say(f"{service} in {env} restarted ({target['replicas']} pods healthy)", 0)
    return 0


def scale(service: str, env: str, replicas: str) -> int:
    count = int(replicas)
    with inventory.locked() as data:
        target = _target(data, service, env)
        if target is None:
            return fail(f"{service} has no {env} environment")
        before = target["replicas"]
        target["replicas"] = count
    say(f"Scaling {service} in {env}: {before} → {count} replicas")
    say(f"{service} in {env} now has {count} ready replicas", 0)
    return 0


def status(service: str, env: str) -> int:
    data = inventory.read()
    services = [service] if service not in ("", "all") else sorted(data["services"])
    envs = [env] if env not in ("", "all") else list(inventory.ENVIRONMENTS)
    print(f"{'service':<12} {'env':<11} {'version':<9} {'replicas':>8}  status")
    for s in services:
        for e in envs:
            t = _target(data, s, e)
            if t:
                print(f"{s:<12} {e:<11} {t['version']:<9} {t['replicas']:>8}  {t['status']}")
    return 0


def logs(service: str, env: str, lines: str) -> int:
    t = _target(inventory.read(), service, env)
    if t is None:
        return fail(f"{service} has no {env} environment")
    for i in range(int(lines)):
        level = "WARN" if i % 7 == 3 else "INFO"
        print(
            f"2026-11-27T05:{i % 60:02d}:00Z {level} {service}[{env}] {t['version']} request handled "
            f"path=/v1/{service} status={'502' if level == 'WARN' else '200'} ms={12 + i % 30}"
        )
    return 0


def query(service: str, metric: str) -> int:
    data = inventory.read()
    if service not in data["services"]:
        return fail(f"unknown service {service}")
    base = sum(ord(c) for c in service) % 17
    values = {
        "error_rate": f"{0.2 + base / 10:.2f}%",
        "latency_p99": f"{120 + base * 7} ms",
        "rps": f"{800 + base * 41}/s",
    }
    print(f"{service} {metric} (production, last 5m): {values[metric]}")
    return 0


ACTIONS: dict[str, Callable[..., int]] = {
    "deploy": deploy,
    "rollback": rollback,
    "rollback-check": rollback_check,
    "restart": restart,
    "scale": scale,
    "status": status,
    "logs": logs,
    "query": query,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ACTIONS:
        return fail(f"usage: python -m opsroom.demo.actions {{{','.join(ACTIONS)}}} ARGS…", 2)
    return ACTIONS[argv[0]](*argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
