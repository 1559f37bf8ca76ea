"""`opsroom check` warns loudly when the policy grants everything or nothing (both are valid
configs that are almost never meant)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from opsroom.cli import app
from opsroom.config.loader import DEMO_CONFIG


def check(tmp_path: Path, policy: dict[str, Any] | None) -> Any:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.pop("runbooks", None)
    data["kb"]["paths"] = [str(DEMO_CONFIG.parent / "kb")]  # the desk's commands are in the demo policy
    data["lists"] = {"services": {"values": ["api-gateway", "payments"]}}
    if policy is None:
        data.pop("policy", None)
    else:
        data["policy"] = policy
    (tmp_path / "opsroom.yaml").write_text(yaml.safe_dump(data))
    return CliRunner().invoke(app, ["check", "--config", str(tmp_path / "opsroom.yaml")])


def test_no_policy_is_called_out_as_granting_everything(tmp_path: Path) -> None:
    result = check(tmp_path, None)
    assert result.exit_code == 0
    assert "policy grants EVERYTHING" in result.output and "all valid" not in result.output


def test_a_rule_for_everyone_and_everything_is_called_out(tmp_path: Path) -> None:
    result = check(tmp_path, {"rules": [{"id": "open", "allow": ["*"], "users": ["*"]}]})
    assert "policy grants EVERYTHING" in result.output and "not a configured user" in result.output


@pytest.mark.parametrize(
    "rule",
    [
        {"id": "ghosts", "allow": ["deploy"], "roles": ["nobody-has-this"]},
        {"id": "typo", "allow": ["deploy", "restart"], "users": ["alcie"]},
    ],
)
def test_rules_that_match_no_configured_user_grant_nothing(tmp_path: Path, rule: dict[str, Any]) -> None:
    result = check(tmp_path, {"rules": [rule]})
    assert "policy grants NOTHING" in result.output and "all valid" not in result.output


def test_the_demo_policy_is_neither(tmp_path: Path) -> None:
    result = check(tmp_path, yaml.safe_load(DEMO_CONFIG.read_text())["policy"])
    assert result.exit_code == 0 and "all valid" in result.output and "WARNING" not in result.output
