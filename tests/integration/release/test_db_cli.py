"""`opsroom db check / upgrade`: the schema as an explicit step, as a Helm hook or an operator
runs it — on SQLite and PostgreSQL, and from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

from opsroom.store.migrate import current_revisions, script_heads


def opsroom(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsroom.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_check_says_an_upgrade_is_needed_then_upgrade_makes_it_current(db_url: str, tmp_path: Path) -> None:
    before = opsroom("db", "check", "--database", db_url, cwd=tmp_path)
    assert before.returncode == 1
    assert "Run `opsroom db upgrade`" in before.stdout

    upgraded = opsroom("db", "upgrade", "--database", db_url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("Upgraded the schema to")

    engine = create_engine(db_url)
    try:
        assert current_revisions(engine) == script_heads()
    finally:
        engine.dispose()
    assert opsroom("db", "check", "--database", db_url, cwd=tmp_path).returncode == 0
    again = opsroom("db", "upgrade", "--database", db_url, cwd=tmp_path)
    assert again.returncode == 0 and "already current" in again.stdout


def test_replicas_upgrading_together_take_turns(db_url: str, tmp_path: Path) -> None:
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "opsroom.cli", "db", "upgrade", "--database", db_url],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in starts]
    assert [code for code, _, _ in results] == [0, 0, 0], [err[-1500:] for _, _, err in results]
    assert opsroom("db", "check", "--database", db_url, cwd=tmp_path).returncode == 0


def test_a_bad_config_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "opsroom.yaml").write_text("server: {port: nope}\n")
    done = opsroom("db", "check", "--config", str(tmp_path / "opsroom.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    assert "Configuration error" in done.stderr
