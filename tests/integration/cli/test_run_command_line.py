"""`opsroom run` parses its command line with a group of that one command: the other command
modules are not imported and their commands not built into the server's memory, while what a
person sees of `opsroom run` (help, errors, options) is what the whole command line shows."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from opsroom.cli import app, build_app

OTHERS = ("audit", "db", "demo", "kb", "policy", "setup", "shell", "users")


def test_opsroom_run_imports_no_other_command_module() -> None:
    code = (
        "import sys; sys.argv = ['opsroom', 'run', '--help']\n"
        "from opsroom.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('imported:' + ','.join(m for m in {OTHERS!r} if 'opsroom.cli.' + m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: opsroom run [OPTIONS]" in done.stdout
    assert done.stdout.rstrip().endswith("imported:"), done.stdout[-300:]


def test_run_reads_the_same_in_the_one_command_group() -> None:
    only_run = build_app(only_run=True)
    for args in (["run", "--help"], ["run", "--bogus"], ["run", "extra"], ["run", "--port", "x"], ["--help"]):
        whole = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
        alone = CliRunner().invoke(only_run, args, env={"COLUMNS": "120"})
        if args == ["--help"]:  # the group's help lists one command, not the rest
            assert "run" in alone.output and "Operate" not in alone.output and "Operate" in whole.output
            continue
        assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args


def test_other_commands_and_the_version_still_use_the_whole_command_line() -> None:
    for args in (["--version"], ["check", "--help"], ["policy", "--help"]):
        done = subprocess.run([sys.executable, "-m", "opsroom.cli", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (args, done.stderr)
    assert app is build_app.__globals__["_built"][0]  # built once, on first use
