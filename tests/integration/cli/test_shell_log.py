"""`opsroom shell` logs what goes wrong to stderr with secrets masked, as `opsroom run` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OPSROOM = str(Path(sys.executable).with_name("opsroom"))
REPO = Path(__file__).resolve().parents[3]
CONFIG = """
users:
  alice: {roles: [sre]}
commands:
  explode:
    summary: A Python runner that fails with what it was given
    args: [{name: text, type: string, greedy: true}]
    runner: {type: python, callable: "tests.security.leaky:explode"}
policy:
  rules:
    - {id: sre, allow: [explode], roles: [sre]}
"""


def test_a_failing_runner_is_logged_to_stderr_with_its_secret_masked(tmp_path: Path) -> None:
    (tmp_path / "opsroom.yaml").write_text(CONFIG)
    result = subprocess.run(
        [OPSROOM, "shell", "--user", "alice", "--config", "opsroom.yaml", "--database", f"sqlite:///{tmp_path}/x.db"],
        input="/explode could not log in with password=hunter2hunter\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 4, result.stderr  # the run failed
    assert "explode failed in run 1" in result.stderr  # the failure is logged, traceback and all
    assert "RuntimeError" in result.stderr
    assert "hunter2hunter" not in result.stderr + result.stdout
    assert "password=[REDACTED]" in result.stderr
