"""`opsroom policy check`, the API's `/api/check` and chat give the same verdict, because all
three run the same pipeline steps (chat writes; the checks do not).

Each row is checked by the CLI (reading the same database) and the API first, then typed in
chat; the chat verdict is read from what chat wrote to the audit trail. Rows run in order, so
runs made by earlier rows count towards rate limits and hold locks for later ones.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from tests.support.system import demo_data, make_system
from typer.testing import CliRunner

from opsroom.cli import app as cli
from opsroom.store.tables import audit_log
from opsroom.web.app import build_app
from opsroom.web.sessions import create_token

# (user, channel, text, expected outcome, first thing it waits for)
TABLE: list[tuple[str, str, str, str, str]] = [
    # channels: `release` may only be run in #deploys
    ("alice", "#ops", "release api-gateway staging", "deny", ""),
    ("alice", "#deploys", "release api-gateway staging", "allow", ""),
    ("bob", "#deploys", "release api-gateway production", "deny", ""),
    ("bob", "#ops", "release api-gateway dev", "deny", ""),
    ("bob", "#deploys", "release api-gateway dev", "allow", ""),
    # environments: who may do what where
    ("bob", "#ops", "deploy payments staging", "allow", ""),
    ("bob", "#ops", "deploy payments production", "deny", ""),
    ("alice", "#ops", "deploy payments production", "allow", "approval"),
    ("alice", "#ops", "deploy payments dev --dry-run", "allow", ""),
    ("mallory", "#ops", "deploy payments dev", "deny", ""),
    ("bob", "#ops", "status", "allow", ""),
    ("bob", "#ops", "deploy payments nowhere", "error", ""),
    ("bob", "#ops", "frobnicate", "error", ""),
    # confirmations
    ("alice", "#ops", "restart checkout production", "allow", "confirmation"),
    ("bob", "#ops", "restart payments staging", "allow", ""),
    ("bob", "#ops", "restart payments production", "deny", ""),
    # freezes (a configured one on production rollbacks), and break-glass through it
    ("alice", "#ops", "rollback payments v1.2.3 env=production", "frozen", ""),
    ("alice", "#ops", "rollback payments v1.2.3 env=staging", "allow", ""),
    ("bob", "#ops", "rollback payments v1.2.3 env=production", "deny", ""),
    (
        "alice",
        "#ops",
        'rollback api-gateway v1.2.3 env=production --break-glass "checkout is down since 10:02"',
        "allow",
        "",
    ),
    ("bob", "#ops", 'rollback payments v1.2.3 env=staging --break-glass "checkout is down since 10:02"', "deny", ""),
    ("alice", "#ops", "rollback payments v1.2.3 env=production --break-glass", "error", ""),
    # break-glass skips an approval, never a confirmation
    ("alice", "#ops", 'deploy api-gateway production --break-glass "hotfix for the checkout outage"', "allow", ""),
    (
        "alice",
        "#ops",
        'restart api-gateway production --break-glass "workers stuck since the deploy"',
        "allow",
        "confirmation",
    ),
    # locks: a run waiting for approval or confirmation holds its lock
    ("alice", "#ops", "restart payments production", "locked", ""),
    ("alice", "#ops", "rollback checkout v1.2.3 env=staging", "allow", ""),
    # approvals: leads approve, the requester never
    ("carol", "#ops", "deploy checkout production", "deny", ""),
    ("alice", "#ops", "deploy checkout production", "locked", ""),
    # rate limits: one scale per person per hour
    ("alice", "#ops", "scale payments staging 3", "allow", ""),
    ("alice", "#ops", "scale payments staging 4", "limited", ""),
    ("bob", "#ops", "scale payments staging 2", "allow", ""),
    ("bob", "#ops", "scale payments dev 2", "limited", ""),
    ("alice", "#deploys", "release payments staging", "allow", ""),
    ("bob", "#deploys", "whoami", "allow", ""),
]


def _config() -> dict[str, Any]:
    data = demo_data()
    data["channels"].append({"name": "#deploys", "description": "deploys only"})
    release = dict(
        data["commands"]["deploy"], channels=["#deploys"], aliases=[], examples=["release api-gateway staging"]
    )
    data["commands"]["release"] = release
    for rule in data["policy"]["rules"]:
        if "deploy" in rule.get("allow", []):
            rule["allow"] = [*rule["allow"], "release"]
    data["guardrails"]["freezes"]["windows"] = [
        {
            "name": "launch",
            "commands": ["rollback"],
            "when": {"env": ["production"]},
            "from": "2020-01-01",
            "until": "2099-12-31",
            "reason": "launch week",
        }
    ]
    data["guardrails"]["rate_limits"] = [{"commands": ["scale"], "per": "user", "limit": 1, "window": "1h"}]
    return data


def _v123_everywhere() -> None:
    from opsroom.demo import inventory

    seeded = inventory.seed()
    for envs in seeded["services"].values():
        for target in envs.values():
            target["history"] = ["v1.2.3", *target["history"]]
    where = inventory.path()
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(seeded))


def _chat_verdict(rows: list[Any]) -> tuple[str, str]:
    actions = [r.action for r in rows]
    decision = next((r for r in rows if r.action == "decision"), None)
    if "parse_error" in actions:
        return "error", ""
    if decision is not None and decision.summary.startswith("denied"):
        return "deny", ""
    for action, outcome in (
        ("break-glass.refused", "deny"),
        ("change.refused", "deny"),
        ("preflight.refused", "deny"),
        ("freeze.denied", "frozen"),
        ("rate_limited", "limited"),
        ("lock.refused", "locked"),
    ):
        if action in actions:
            return outcome, ""
    if "confirmation.requested" in actions:
        return "allow", "confirmation"
    if "approval.requested" in actions:
        return "allow", "approval"
    return "allow", ""


async def test_check_api_and_chat_agree(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(TABLE) >= 30
    data = _config()
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    _v123_everywhere()  # the rollbacks below pass their pre-flight: v1.2.3 ran everywhere once
    config_file = tmp_path / "opsroom.yaml"
    config_file.write_text(yaml.safe_dump(data))
    await system.start()
    token, _ = create_token(system.db, "alice")
    tokens = {name: create_token(system.db, name)[0] for name in ("alice", "bob", "carol")}
    tokens["alice"] = token
    transport = httpx.ASGITransport(app=build_app(system, manage_lifecycle=False))
    runner = CliRunner()
    disagreements: list[str] = []
    try:
        for user, channel, text, expected, waits in TABLE:
            # the CLI: the same config file, the same database, read only
            result = await asyncio.to_thread(
                runner.invoke,
                cli,
                [
                    "policy",
                    "check",
                    "--config",
                    str(config_file),
                    "--user",
                    user,
                    "--channel",
                    channel,
                    "--platform",
                    "test",
                    "--database",
                    db_url,
                    text,
                ],
            )
            cli_outcome = _cli_outcome(result.output)
            # the API, as that user (mallory has no token: an unknown user is checked by the CLI only)
            api_outcome = cli_outcome
            if user in tokens:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://opsroom", headers={"Authorization": f"Bearer {tokens[user]}"}
                ) as client:
                    answer = await client.post(
                        "/api/check", json={"text": text, "channel": channel, "platform": "test"}
                    )
                assert answer.status_code == 200, answer.text
                api_outcome = answer.json()["outcome"]
                api_needs = answer.json()["needs"]
                api_first = "confirmation" if "confirmation" in api_needs else (api_needs[0] if api_needs else "")
            else:
                api_first = waits
            # chat
            with system.db.read() as conn:
                last = conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)).scalar() or 0
            await chat.say(user, text, channel=channel, addressed=True)
            await system.runs.drain()
            with system.db.read() as conn:
                rows = list(conn.execute(select(audit_log).where(audit_log.c.id > last).order_by(audit_log.c.id)))
            chat_outcome, chat_first = _chat_verdict(rows)
            seen = (cli_outcome, api_outcome, chat_outcome, api_first, chat_first)
            if expected != "allow":  # what it would wait for matters only when it gets through
                seen = seen[:3] + ("", "")
            if seen != (expected, expected, expected, waits, waits):
                disagreements.append(
                    f"{user} in {channel}: {text!r}: expected {expected}/{waits or '-'}, "
                    f"cli {cli_outcome}, api {api_outcome}/{api_first or '-'}, "
                    f"chat {chat_outcome}/{chat_first or '-'}\n{result.output}"
                )
    finally:
        await system.stop()
        system.db.dispose()
    assert not disagreements, "\n".join(disagreements)


def _cli_outcome(output: str) -> str:
    if "✗ not a valid command" in output:
        return "error"
    if "✗ DENY" in output:
        return "deny"
    for kind in ("frozen", "limited", "locked"):
        if f"  {kind}:" in output:
            return kind
    if "✓ ALLOW" in output:
        return "allow"
    return f"unreadable: {output!r}"
