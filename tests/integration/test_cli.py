"""The `opsroom` command line as a person uses it: a fresh folder, the bundled demo, real
processes for the shell, and the audit commands against what the shell wrote."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsroom.cli import app

OPSROOM = str(Path(sys.executable).with_name("opsroom"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSROOM_DEMO_SPEED", "0.01")
    monkeypatch.delenv("OPSROOM_DATABASE_URL", raising=False)
    return tmp_path


def shell(user: str, *lines: str, cwd: Path, env: dict[str, str] | None = None, code: int = 0) -> str:
    """Run a scripted shell; ``code`` is the exit code it must end with (docs/cli.md)."""
    result = subprocess.run(
        [OPSROOM, "shell", "--user", user],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "OPSROOM_DEMO_SPEED": "0.01", **(env or {})},
    )
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def test_version_and_help_read_well() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).stdout.startswith("opsroom ")
    helptext = runner.invoke(app, ["--help"]).stdout
    for command in ("run", "shell", "init", "check", "audit"):
        assert command in helptext


def test_scripted_shell_runs_the_seed_examples_word_for_word(workdir: Path) -> None:
    out = shell("alice", "/deploy api-gateway staging", "/rollback payments v4.12.3", cwd=workdir, code=5)
    assert "succeeded" in out and "api-gateway in staging: v2.7.4 → v2.8.0" in out
    assert "needs approval" in out  # production rollback: carol approves
    out = shell("carol", "/approve 2", cwd=workdir)
    assert "Rollback complete; payments in production runs v4.12.3" in out
    assert (workdir / "opsroom.db").exists()


def test_developer_is_told_why_not(workdir: Path) -> None:
    out = shell("bob", "/deploy payments production", "/deplyo payments staging", cwd=workdir, code=2)
    assert "⛔" in out and "production" in out
    assert "did you mean" in out


def test_shell_metacharacters_never_reach_a_shell(workdir: Path) -> None:
    marker = workdir / "pwned"
    out = shell(
        "alice",
        f"/status all; touch {marker}",
        f"/deploy payments staging version=$(touch {marker})",
        f"/logs payments staging lines=`touch {marker}`",
        cwd=workdir,
        code=2,
    )
    assert not marker.exists()
    assert out.count("\n") >= 3  # each got a clear answer


def test_init_check_and_policy_test_pass_out_of_the_box(workdir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (workdir / "opsroom.yaml").exists()
    checked = runner.invoke(app, ["check", "--config", "opsroom.yaml"])
    assert checked.exit_code == 0 and "all valid" in checked.stdout
    assert runner.invoke(app, ["init"]).exit_code == 1  # never overwrites without --force


def test_check_names_file_line_and_key(workdir: Path) -> None:
    (workdir / "opsroom.yaml").write_text("server:\n  host: 127.0.0.1\n  prot: 8080\n")
    result = CliRunner().invoke(app, ["check", "--config", "opsroom.yaml"])
    assert result.exit_code == 2
    assert "opsroom.yaml:3" in result.stderr and "server.prot" in result.stderr


def test_audit_search_export_and_verify_detects_tampering(workdir: Path) -> None:
    shell("alice", "/deploy checkout staging", "/status payments", cwd=workdir)
    runner = CliRunner()
    found = runner.invoke(app, ["audit", "search", "--json", "user:alice", "command:deploy"])
    assert found.exit_code == 0
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert rows and all(r["actor"] == "alice" and r["command"] == "deploy" for r in rows)

    exported = runner.invoke(app, ["audit", "export", "--output", "audit.jsonl"])
    assert exported.exit_code == 0
    lines = (workdir / "audit.jsonl").read_text().splitlines()
    assert len(lines) >= 6 and all("hash" in json.loads(line) for line in lines)

    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.stdout

    with sqlite3.connect(workdir / "opsroom.db") as conn:  # someone edits history by hand
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "row 3" in broken.stdout and "altered" in broken.stdout


def test_run_on_a_taken_port_says_so_in_one_sentence_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(app, ["run", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "opsroom.db").exists(), "nothing migrated, nothing written"


def test_audit_search_formats_for_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shell = subprocess.run(
        [sys.executable, "-m", "opsroom.cli", "shell", "--user", "alice"],
        input="/whoami\n/status payments\n",
        text=True,
        capture_output=True,
        timeout=120,
        env=dict(os.environ, OPSROOM_DEMO_SPEED="0.01"),
    )
    assert shell.returncode == 0, shell.stderr
    runner = CliRunner()
    tsv = runner.invoke(app, ["audit", "search", "command:status", "--format", "tsv"])
    lines = tsv.output.strip().splitlines()
    assert tsv.exit_code == 0 and lines[0].split("\t")[0] == "id"
    assert all(len(line.split("\t")) == 7 for line in lines)  # one entry a line, whatever the summary holds
    table = runner.invoke(app, ["audit", "search", "command:status"])  # piped (CliRunner): not wrapped
    assert any("run #" in line and "status" in line and "alice" in line for line in table.output.splitlines())
    assert runner.invoke(app, ["audit", "search", "--format", "xml"]).exit_code == 2
    rows = [
        json.loads(line) for line in runner.invoke(app, ["audit", "search", "--format", "json"]).output.splitlines()
    ]
    assert rows and all("hash" in row for row in rows)
