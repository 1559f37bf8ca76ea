"""`opsroom policy check` and `opsroom policy test`, as a user runs them after `opsroom init`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsroom.cli import app

runner = CliRunner()


@pytest.fixture
def initialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_policy_test_passes_right_after_init(initialized: Path) -> None:
    assert (initialized / "opsroom.tests.yaml").exists()
    result = runner.invoke(app, ["policy", "test"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_a_failing_case_fails_the_run(initialized: Path) -> None:
    (initialized / "bad.tests.yaml").write_text(
        "cases:\n"
        "  - {user: bob, command: deploy payments production, expect: allow}\n"
        "  - {user: alice, command: deploy payments production, expect: allow, needs: []}\n"
        "  - {user: alice, command: deploy payments production, expect: allow, approvers: [bob]}\n"
    )
    result = runner.invoke(app, ["policy", "test", "bad.tests.yaml"])
    assert result.exit_code == 1
    assert "expected allow, got deny" in result.output
    assert "expected needs [], got ['approval']" in result.output
    assert "expected approvers ['bob'], got ['carol']" in result.output
    assert "0 passed, 3 failed" in result.output


def test_policy_check_shows_rules_and_what_is_needed(initialized: Path) -> None:
    result = runner.invoke(
        app, ["policy", "check", "--user", "alice", "--channel", "#ops", "deploy payments production"]
    )
    assert result.exit_code == 0, result.output
    assert "ALLOW" in result.output and "production-needs-a-lead" in result.output
    assert "needs approval: 1 from role sre-lead (could approve: carol)" in result.output
    denied = runner.invoke(app, ["policy", "check", "--user", "bob", "deploy payments production"])
    assert denied.exit_code == 1 and "DENY" in denied.output and "no rule allows it" in denied.output
    typed = runner.invoke(app, ["policy", "check", "--user", "alice", "restart payments production"])
    assert "type `payments` (the service)" in typed.output


def test_policy_check_reports_a_configured_freeze(initialized: Path) -> None:
    config = initialized / "opsroom.yaml"
    config.write_text(
        config.read_text().replace(
            "    windows: []\n",
            "    windows:\n      - {name: year-end, commands: [deploy], from: 2026-12-21, until: 2027-01-04}\n",
        )
    )
    result = runner.invoke(
        app, ["policy", "check", "--user", "alice", "--at", "2026-12-24T10:00", "deploy payments staging"]
    )
    assert result.exit_code == 1
    assert "frozen: year-end until Tue 2027-01-05 00:00 UTC" in result.output
    after = runner.invoke(
        app, ["policy", "check", "--user", "alice", "--at", "2027-01-05T00:00", "deploy payments staging"]
    )
    assert after.exit_code == 0 and "frozen" not in after.output
