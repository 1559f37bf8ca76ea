"""`opsroom --help` lists every command under what it is for, and the command line is a
package of small modules, one per command group (issue 10: no source file over 450 lines)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import opsroom.cli
from opsroom.cli import app

PANELS = {
    "Run the server": ("run", "reload", "db"),
    "Try it": ("shell", "demo"),
    "Configure": ("init", "check", "config", "user", "token"),
    "Operate": ("audit", "policy", "kb"),
}


def test_help_lists_every_command_under_its_purpose() -> None:
    helptext = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}).stdout
    panels = helptext.split("╭─ ")[1:]
    shown = {panel.split(" ─")[0]: panel for panel in panels}
    for title, commands in PANELS.items():
        assert title in shown, helptext
        rows = [line for line in shown[title].splitlines()[1:] if line.startswith("│ ") and line[2] != " "]
        listed = [row[2:].split()[0] for row in rows]  # a wrapped description's lines start with blanks
        assert listed == list(commands), (title, listed)


def test_each_command_group_is_a_small_module() -> None:
    folder = Path(opsroom.cli.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert {"serve.py", "reload.py", "shell.py", "audit.py", "policy.py", "db.py", "kb.py", "demo.py"} <= set(sizes)
    assert max(sizes.values()) <= 450, sizes


def test_python_dash_m_runs_the_same_command_line() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "opsroom.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and shown.stdout.startswith("opsroom ")
