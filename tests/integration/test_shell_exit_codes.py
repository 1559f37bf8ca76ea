"""`opsroom shell` reading a script exits with a code a CI job can test (docs/cli.md):
0 all good, 2 a parse error, 3 a denial, 4 a failed run, 5 a run left waiting for approval.
Real processes on the bundled demo, as a CI script would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OPSROOM = str(Path(sys.executable).with_name("opsroom"))


def run_shell(user: str, *lines: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSROOM, "shell", "--user", user],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        env={**os.environ, "OPSROOM_DEMO_SPEED": "0.01"},
    )


@pytest.mark.parametrize(
    ("user", "lines", "code"),
    [
        ("alice", ["/deploy api-gateway staging", "/status api-gateway"], 0),
        ("alice", ["/deplyo api-gateway staging"], 2),
        ("bob", ["/deploy payments production"], 3),
        ("alice", ["/deploy api-gateway staging version=bad"], 4),
        ("alice", ["/deploy payments production"], 5),
        # The first that applies wins: a parse error outranks a later denial.
        ("bob", ["/deploy payments production", "/deplyo x"], 2),
        # `exit` ends the script: what follows it is never read.
        ("alice", ["/status api-gateway", "exit", "/deplyo never-read"], 0),
    ],
    ids=["ok", "parse-error", "denied", "run-failed", "hold-pending", "first-that-applies", "exit"],
)
def test_scripted_shell_exit_codes(
    user: str, lines: list[str], code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPSROOM_DATABASE_URL", raising=False)
    result = run_shell(user, *lines, cwd=tmp_path)
    assert result.returncode == code, (result.stdout, result.stderr)


def test_only_this_sessions_lines_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure recorded by an earlier session does not fail the next one."""
    monkeypatch.delenv("OPSROOM_DATABASE_URL", raising=False)
    assert run_shell("alice", "/deploy api-gateway staging version=bad", cwd=tmp_path).returncode == 4
    assert run_shell("alice", "/status api-gateway", cwd=tmp_path).returncode == 0
