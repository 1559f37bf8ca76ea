"""When `opsroom run` replaces its interpreter by one under -OO, and when it must not: other
commands, help, the opt-out, bytecode that could be neither found nor written (every start
would compile from source), an interpreter already optimized."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from opsroom import lean_imports_oo as oo

PY = "/venv/bin/python"


@pytest.mark.parametrize(
    ("argv", "orig_argv", "server"),
    [
        (["/venv/bin/opsroom", "run"], [PY, "/venv/bin/opsroom", "run"], True),
        (["/venv/bin/opsroom", "run", "--port", "9000"], [PY, "/venv/bin/opsroom", "run", "--port", "9000"], True),
        (["-m"], [PY, "-X", "dev", "-m", "opsroom.cli", "run", "--config", "x.yaml"], True),
        (["/venv/bin/opsroom", "run", "--help"], [PY, "/venv/bin/opsroom", "run", "--help"], False),
        (["/venv/bin/opsroom", "run", "-h"], [PY, "/venv/bin/opsroom", "run", "-h"], False),
        (["-m"], [PY, "-m", "opsroom.cli", "run", "--help"], False),
        (["/venv/bin/opsroom", "shell"], [PY, "/venv/bin/opsroom", "shell"], False),
        (["/venv/bin/opsroom"], [PY, "/venv/bin/opsroom"], False),
        (["/venv/bin/opsroom", "--version", "run"], [PY, "/venv/bin/opsroom", "--version", "run"], False),
        (["-m"], [PY, "-m", "opsroom.store.migrate_child"], False),
        (["-m"], [PY, "-m"], False),
        (["-c"], [PY, "-c", "import opsroom", "run"], False),
        (["/usr/bin/pytest", "run"], [PY, "/usr/bin/pytest", "run"], False),
        ([], [PY], False),
    ],
)
def test_only_the_server_command_line_is_replaced(argv: list[str], orig_argv: list[str], server: bool) -> None:
    assert oo.server_command_line(argv, orig_argv) is server


def test_the_new_command_line_is_the_old_one_with_OO_after_the_interpreter() -> None:
    old = [PY, "-X", "dev", "-W", "error", "/venv/bin/opsroom", "run", "--port", "9000"]
    assert oo.optimized_command("/venv/bin/python3.11", old) == [
        "/venv/bin/python3.11",
        "-OO",
        "-X",
        "dev",
        "-W",
        "error",
        "/venv/bin/opsroom",
        "run",
        "--port",
        "9000",
    ]


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    source = tmp_path / name / "__init__.py"
    source.parent.mkdir()
    source.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return source


def test_bytecode_is_ready_when_it_is_there_even_in_a_read_only_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _package(tmp_path, monkeypatch, "oo_probe_there")
    cached = Path(importlib.util.cache_from_source(str(source), optimization=2))
    cached.parent.mkdir()
    cached.write_bytes(b"")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert oo.optimized_bytecode_ready(("oo_probe_there",))


def test_bytecode_that_is_missing_in_a_read_only_folder_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _package(tmp_path, monkeypatch, "oo_probe_ro")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    read_only = str(source.parent)
    real_access = os.access
    # (a folder the user may not write: chmod would not do, CI runs as root, who writes anywhere)
    monkeypatch.setattr(os, "access", lambda path, mode: path != read_only and real_access(path, mode))
    assert not oo.optimized_bytecode_ready(("oo_probe_ro",))


def test_missing_bytecode_is_ready_only_when_it_may_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, monkeypatch, "oo_probe_missing")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert oo.optimized_bytecode_ready(("oo_probe_missing",))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE
    assert not oo.optimized_bytecode_ready(("oo_probe_missing",))
    assert not oo.optimized_bytecode_ready(("oo_probe_no_such_module",))


def _execs(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(oo.os, "execv", lambda path, args: calls.append([path, *args]))
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, *argv])
    monkeypatch.setattr(oo, "optimized_bytecode_ready", lambda: True)
    oo.reexec_optimized()
    return calls


def test_opsroom_run_is_replaced_unless_opted_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(oo.OPT_OUT, raising=False)
    calls = _execs(monkeypatch, ["/venv/bin/opsroom", "run"])
    assert calls == [[sys.executable, sys.executable, "-OO", "/venv/bin/opsroom", "run"]]
    for off in ("0", "no", "false", "OFF"):
        monkeypatch.setenv(oo.OPT_OUT, off)
        assert _execs(monkeypatch, ["/venv/bin/opsroom", "run"]) == []
    monkeypatch.setenv(oo.OPT_OUT, "1")
    assert len(_execs(monkeypatch, ["/venv/bin/opsroom", "run"])) == 1
    assert _execs(monkeypatch, ["/venv/bin/opsroom", "shell"]) == []


def test_an_interpreter_already_under_OO_is_not_replaced_again() -> None:
    out = subprocess.run(
        [sys.executable, "-OO", "-c", "import sys; sys.argv = ['opsroom', 'run']; import opsroom; print('kept')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "kept"


def test_a_python_command_keeps_its_docstring_summary_under_OO(tmp_path: Path) -> None:
    """A plugin's `@command` without summary= takes its docstring's first line: under -OO,
    where `__doc__` is None, it is read from the source."""
    (tmp_path / "my_commands.py").write_text(
        textwrap.dedent(
            '''
            from opsroom.commands import command
            from opsroom.commands.decorators import Registry

            registry = Registry()

            @command("greet", registry=registry)
            async def greet(ctx):
                """Say hello to the channel.

                More words."""
                return "hello"

            @command("bare", registry=registry)
            async def bare(ctx):
                return "no docstring"
            '''
        )
    )
    code = "import my_commands as m; print(m.greet.command_spec.summary); print(repr(m.bare.command_spec.summary))"
    for flags in ((), ("-OO",)):
        out = subprocess.run(
            [sys.executable, *flags, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=str(tmp_path)),
            check=True,
        )
        assert out.stdout.splitlines() == ["Say hello to the channel.", "''"], (flags, out.stderr)
