"""`opsroom check` reads the runbooks and KB articles a config names, as it reads the config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def opsroom(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsroom.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_check_counts_the_runbooks_and_names_a_broken_step(tmp_path: Path) -> None:
    assert opsroom("init", cwd=tmp_path).returncode == 0
    ok = opsroom("check", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "1 runbook, 7 KB articles — all valid" in ok.stdout
    runbook = tmp_path / "runbooks" / "payments-error-rate.md"
    runbook.write_text(runbook.read_text().replace("logs payments {env}", "logs paymnts {env}"))
    broken = opsroom("check", cwd=tmp_path)
    assert broken.returncode == 2
    assert "payments-error-rate.md:" in broken.stderr
    assert "step 'logs': `logs paymnts {env} lines=50` does not parse" in broken.stderr
