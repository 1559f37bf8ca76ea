"""A small catalog, users and places shared by the policy tests (imported by name:
pytest puts this directory on sys.path)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from opsroom.config.models import UserConfig
from opsroom.config.policy import PolicyConfig
from opsroom.core import ArgSpec, ArgType, CommandSpec, Place, Principal
from opsroom.policy import PolicyEngine

ENV = ArgSpec("env", ArgType.ENUM, values=("dev", "staging", "production"))
SERVICE = ArgSpec("service")


def _catalog() -> dict[str, CommandSpec]:
    specs = [
        CommandSpec("deploy", args=(SERVICE, ENV), aliases=("ship",)),
        CommandSpec("rollback", args=(SERVICE, ENV)),
        CommandSpec("restart", args=(SERVICE, ENV)),
        CommandSpec(
            "scale",
            args=(SERVICE, ENV, ArgSpec("replicas", ArgType.INT, min=0, max=100)),
        ),
        CommandSpec("flush", args=(ArgSpec("dry_run", ArgType.BOOL, required=False, default=True),)),
        CommandSpec("wait", args=(ArgSpec("for", ArgType.DURATION),)),
        CommandSpec("status", args=(ArgSpec("service", required=False),), read_only=True),
        CommandSpec("logs", args=(SERVICE,), read_only=True),
    ]
    specs += [CommandSpec(name, builtin=True) for name in ("help", "runs", "audit", "cancel")]
    specs.append(CommandSpec("run", args=(ArgSpec("id", ArgType.INT),), builtin=True))
    catalog = {s.name: s for s in specs}
    catalog["ship"] = catalog["deploy"]  # catalogs may list aliases as keys too
    return catalog


CATALOG = _catalog()

USERS = {
    "alice": UserConfig(roles=["sre"]),
    "bob": UserConfig(roles=["developer"], groups=["payments"]),
    "carol": UserConfig(roles=[]),
}

OPS = Place("web", "ops", channel_name="#ops")
DEPLOYS = Place("slack", "C123", channel_name="#deploys")
RANDOM = Place("slack", "C999", channel_name="#random")
DM = Place("slack", "D42", is_direct=True)

MONDAY_NOON = datetime(2025, 3, 3, 12, 0)  # naive = UTC
SATURDAY_NOON = datetime(2025, 3, 1, 12, 0)


def principal(name: str) -> Principal:
    """What the engine builds from config for a configured user."""
    user = USERS[name]
    return Principal(name, frozenset(user.roles), groups=frozenset(user.groups))


GUEST = Principal.anonymous("slack", "U0STRANGER")

STANDARD = """
rules:
  - id: sre-anything
    allow: [deploy, rollback, restart, scale]
    roles: [sre]
  - id: developers-nonprod
    allow: [deploy, rollback, restart]
    roles: [developer]
    when: {env: [dev, staging]}
    channels: ["#ops", "#deploys"]
  - id: everyone-reads
    allow: [status, logs, help, runs, run, audit]
    users: ["*"]
  - id: no-prod-on-weekends
    deny: [deploy]
    roles: ["*"]
    when: {env: production}
    during: Sat-Sun
    reason: no production deploys at weekends
"""


def policy_from_yaml(text: str) -> PolicyConfig:
    return PolicyConfig.model_validate(yaml.safe_load(text))


def engine_from_yaml(text: str, base_dir: Path | None = None) -> PolicyEngine:
    return PolicyEngine.from_config(policy_from_yaml(text), USERS, base_dir or Path("."))
