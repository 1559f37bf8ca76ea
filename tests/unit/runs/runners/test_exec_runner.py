"""The exec runner against real processes: argv safety, environment scrubbing, streaming,
output cap, and that cancellation ends the whole process group."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from opsroom.core import ConfigError, OutputChunk, RunnerSpec
from opsroom.features import build_runner
from opsroom.runs.runners import check_runner_args

PRINT_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


def exec_runner(argv: list[str], **options: Any):  # type: ignore[no-untyped-def]
    return build_runner(RunnerSpec("exec", {"argv": argv, **options}))


def stdout_text(chunks: list[OutputChunk]) -> list[str]:
    return [c.text for c in chunks if c.stream == "stdout" and c.exit_code is None]


def is_gone(pid: int) -> bool:
    """True when the process no longer exists or is only an unreaped zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def leftovers():  # type: ignore[no-untyped-def]
    """Pids a test saw; any still alive at teardown (a failed test) are killed by pid."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"sleep" in cmdline or b"python" in cmdline:  # still ours, not a reused pid
            os.kill(pid, 9)


async def wait_gone(pids: list[int], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(is_gone(p) for p in pids):
            return True
        await asyncio.sleep(0.02)
    return False


# -- argv is never a shell ---------------------------------------------------------------------

NASTY = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a | cat /etc/passwd",
    "x && touch /tmp/opsroom-pwned",
    "line1\nline2",
    "'quoted' \"double\"",
    "*",
    "~",
    "--help",
    "{other}",
    "${HOME}",
    "",
]


@pytest.mark.parametrize("value", NASTY)
async def test_shell_metacharacters_arrive_as_one_literal_argv_item(value, make_ctx, collect):
    runner = exec_runner(["{python}", "-c", PRINT_ARGV, "{service}", "--tag={service}"])
    chunks = await collect(runner, make_ctx({"service": value, "other": "SHOULD-NOT-APPEAR"}))
    assert chunks[-1].exit_code == 0
    assert json.loads(stdout_text(chunks)[0]) == [value, f"--tag={value}"]


async def test_ten_thousand_character_argument_passes_intact(make_ctx, collect):
    value = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    runner = exec_runner(["{python}", "-c", PRINT_ARGV, "{blob}"])
    chunks = await collect(runner, make_ctx({"blob": value}))
    assert json.loads(stdout_text(chunks)[0]) == [value]


async def test_typed_values_are_rendered_for_a_command_line(make_ctx, collect):
    runner = exec_runner(["{python}", "-c", PRINT_ARGV, "{n}", "{force}", "{off}", "{missing}"])
    chunks = await collect(runner, make_ctx({"n": 3, "force": True, "off": False, "missing": None}))
    assert json.loads(stdout_text(chunks)[0]) == ["3", "true", "false", ""]


async def test_nul_byte_in_a_value_is_a_clear_error_not_a_traceback(make_ctx, collect):
    runner = exec_runner(["{python}", "-c", PRINT_ARGV, "{x}"])
    chunks = await collect(runner, make_ctx({"x": "a\0b"}))
    assert chunks == [
        OutputChunk("cannot run: an argument or environment value contains a NUL byte", "stderr", exit_code=1)
    ]


async def test_argument_missing_at_run_time_is_a_clear_error(make_ctx, collect):
    runner = exec_runner(["echo", "{service}"])
    chunks = await collect(runner, make_ctx({}))
    assert chunks[-1].exit_code == 1
    assert "{service}" in chunks[-1].text and "not an argument" in chunks[-1].text


# -- environment -------------------------------------------------------------------------------

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


async def test_only_allowed_variables_reach_the_child(monkeypatch, make_ctx, collect):
    monkeypatch.setenv("OPSROOM_TEST_SECRET", "hunter2-do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-do-not-leak")
    runner = exec_runner(["{python}", "-c", PRINT_ENV])
    chunks = await collect(runner, make_ctx())
    env = json.loads(stdout_text(chunks)[0])
    assert "OPSROOM_TEST_SECRET" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "hunter2-do-not-leak" not in json.dumps(env)
    assert env["PATH"] == os.environ["PATH"]
    assert set(env) - {"PATH", "LANG", "HOME", "TZ", "LC_CTYPE"} == set()  # LC_CTYPE: Python may set it


async def test_env_option_is_templated_and_may_read_named_variables(monkeypatch, make_ctx, collect):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-123")
    monkeypatch.setenv("OTHER_SECRET", "other")
    runner = exec_runner(
        ["{python}", "-c", PRINT_ENV],
        env={"TARGET": "{service}-{env}", "TOKEN": "${DEPLOY_TOKEN}", "PORT": 8080},
        env_allow=["PATH", "KEEP_ME"],
    )
    monkeypatch.setenv("KEEP_ME", "kept")
    monkeypatch.setenv("HOME", "/home/nobody")
    chunks = await collect(runner, make_ctx({"service": "api", "env": "${OTHER_SECRET}"}, env={"OPSROOM_RUN_ID": "7"}))
    env = json.loads(stdout_text(chunks)[0])
    # An argument value that looks like an env reference is only text.
    assert env["TARGET"] == "api-${OTHER_SECRET}"
    assert env["TOKEN"] == "tok-123"
    assert env["PORT"] == "8080"
    assert env["KEEP_ME"] == "kept"
    assert env["OPSROOM_RUN_ID"] == "7"
    assert "HOME" not in env  # env_allow replaces the default list
    assert "other" not in env.values()


async def test_missing_env_reference_is_a_clear_error_naming_it(monkeypatch, make_ctx, collect):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    runner = exec_runner(["true"], env={"X": "${NOPE_NOT_SET}"})
    chunks = await collect(runner, make_ctx())
    assert chunks == [OutputChunk("cannot run: environment variable NOPE_NOT_SET is not set", "stderr", exit_code=1)]


async def test_dry_run_shows_argv_and_runs_nothing(tmp_path, make_ctx, collect):
    marker = tmp_path / "ran"
    runner = exec_runner(["touch", str(marker), "{service}"])
    chunks = await collect(runner, make_ctx({"service": "api; rm -rf /"}, dry_run=True))
    assert chunks == [OutputChunk(f"dry run: would run touch {marker} 'api; rm -rf /'", exit_code=0)]
    assert not marker.exists()


# -- output ------------------------------------------------------------------------------------


async def test_stdout_and_stderr_are_separate_streams_in_arrival_order(make_ctx, collect):
    script = (
        "import sys, time\n"
        "for i in range(3):\n"
        "    print('out%d' % i, flush=True); time.sleep(0.05)\n"
        "    print('err%d' % i, file=sys.stderr, flush=True); time.sleep(0.05)\n"
        "sys.exit(3)\n"
    )
    chunks = await collect(exec_runner(["{python}", "-c", script]), make_ctx())
    lines = [(c.stream, c.text) for c in chunks if c.exit_code is None]
    assert lines == [
        ("stdout", "out0"),
        ("stderr", "err0"),
        ("stdout", "out1"),
        ("stderr", "err1"),
        ("stdout", "out2"),
        ("stderr", "err2"),
    ]
    assert chunks[-1].exit_code == 3


async def test_output_streams_while_the_program_still_runs(make_ctx):
    runner = exec_runner(
        ["{python}", "-c", "import time; print('started', flush=True); time.sleep(30)"], kill_grace=0.5
    )
    started = time.monotonic()
    gen = runner.execute(make_ctx())
    first = await asyncio.wait_for(gen.__anext__(), 10)
    assert first.text == "started"
    assert time.monotonic() - started < 10
    await gen.aclose()  # ends the program; the test would otherwise wait 30 s


async def test_output_is_capped_with_one_line_saying_how_much_was_dropped(make_ctx, collect):
    script = "import sys\nfor i in range(100): print('x' * 99)\nsys.stdout.flush()\n"
    runner = exec_runner(["{python}", "-c", script], output_max_bytes=1000)
    chunks = await collect(runner, make_ctx())
    lines = [c for c in chunks if c.exit_code is None]
    assert sum(len(c.text) + 1 for c in lines[:-1]) <= 1000 + 1
    assert len(lines) == 11
    assert lines[-1] == OutputChunk("[output truncated: 9,000 bytes dropped after the first 1,000 bytes]", "stderr")
    assert chunks[-1].exit_code == 0


async def test_a_flood_of_output_does_not_block_the_program(make_ctx, collect):
    script = "import sys\nsys.stdout.write('y' * 20_000_000)\n"
    runner = exec_runner(["{python}", "-c", script], output_max_bytes=10_000)
    started = time.monotonic()
    chunks = await asyncio.wait_for(collect(runner, make_ctx()), 30)
    assert chunks[-1].exit_code == 0
    assert "19,990,000 bytes dropped" in chunks[-2].text
    assert time.monotonic() - started < 30


async def test_invalid_utf8_is_replaced_not_fatal(make_ctx, collect):
    script = "import sys; sys.stdout.buffer.write(b'caf\\xc3\\xa9 \\xff end\\n')"
    chunks = await collect(exec_runner(["{python}", "-c", script]), make_ctx())
    assert stdout_text(chunks) == ["café \ufffd end"]


async def test_last_line_without_newline_is_kept(make_ctx, collect):
    script = "import sys; sys.stdout.write('a\\nb')"
    chunks = await collect(exec_runner(["{python}", "-c", script]), make_ctx())
    assert stdout_text(chunks) == ["a", "b"]


# -- failing to start, exit codes ----------------------------------------------------------------


async def test_missing_program_is_one_line_with_exit_code_127(make_ctx, collect):
    chunks = await collect(exec_runner(["opsroom-no-such-program", "x"]), make_ctx())
    assert chunks == [
        OutputChunk("cannot run opsroom-no-such-program: program not found on PATH", "stderr", exit_code=127)
    ]


async def test_missing_program_by_path_gives_127(tmp_path, make_ctx, collect):
    chunks = await collect(exec_runner([str(tmp_path / "gone.sh")]), make_ctx())
    assert chunks[-1].exit_code == 127 and "program not found" in chunks[-1].text


async def test_not_executable_gives_126(tmp_path, make_ctx, collect):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    chunks = await collect(exec_runner([str(script)]), make_ctx())
    assert chunks == [OutputChunk(f"cannot run {script}: permission denied", "stderr", exit_code=126)]


async def test_missing_working_directory_is_clear(tmp_path, make_ctx, collect):
    chunks = await collect(exec_runner(["true"], cwd=str(tmp_path / "nope")), make_ctx())
    assert chunks[-1].exit_code == 1 and "working directory" in chunks[-1].text


async def test_cwd_is_used(tmp_path, make_ctx, collect):
    chunks = await collect(
        exec_runner(["{python}", "-c", "import os; print(os.getcwd())"], cwd=str(tmp_path)), make_ctx()
    )
    assert stdout_text(chunks) == [str(tmp_path)]


async def test_killed_by_a_signal_is_reported(make_ctx, collect):
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    chunks = await collect(exec_runner(["{python}", "-c", script]), make_ctx())
    assert chunks[-1] == OutputChunk("killed by signal SIGKILL", "stderr", exit_code=137)


# -- cancellation and timeouts end the whole process group -------------------------------------

SPAWN_GRANDCHILD = (
    "import os, subprocess, time\n"
    "child = subprocess.Popen(['sleep', '1000'])\n"
    "print(os.getpid(), child.pid, flush=True)\n"
    "time.sleep(1000)\n"
)

IGNORE_TERM = (
    "import os, signal, subprocess, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen(['sleep', '1000'])\n"
    "print(os.getpid(), child.pid, flush=True)\n"
    "while True: time.sleep(1)\n"
)


async def _start_and_read_pids(runner, make_ctx, leftovers):  # type: ignore[no-untyped-def]
    seen: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()

    async def consume() -> None:
        async for chunk in runner.execute(make_ctx()):
            if not seen.done() and chunk.stream == "stdout":
                seen.set_result([int(p) for p in chunk.text.split()])

    task = asyncio.create_task(consume())
    pids = await asyncio.wait_for(seen, 10)
    leftovers.extend(pids)
    return task, pids


async def test_cancel_ends_the_child_and_its_grandchild(make_ctx, leftovers):
    runner = exec_runner(["{python}", "-c", SPAWN_GRANDCHILD], kill_grace=2)
    task, pids = await _start_and_read_pids(runner, make_ctx, leftovers)
    assert not any(is_gone(p) for p in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(is_gone(p) for p in pids), "cancel must end the whole process group"


async def test_timeout_ends_the_child_and_its_grandchild(make_ctx, leftovers):
    runner = exec_runner(["{python}", "-c", SPAWN_GRANDCHILD], kill_grace=2)
    pids: list[int] = []

    async def consume() -> None:
        async for chunk in runner.execute(make_ctx()):
            pids.extend(int(p) for p in chunk.text.split())
            leftovers.extend(pids)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.5):
            await consume()
    assert len(pids) == 2
    assert all(is_gone(p) for p in pids)


async def test_process_ignoring_term_is_killed_after_the_grace_period(make_ctx, leftovers):
    runner = exec_runner(["{python}", "-c", IGNORE_TERM], kill_grace=0.5)
    task, pids = await _start_and_read_pids(runner, make_ctx, leftovers)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = time.monotonic() - started
    assert all(is_gone(p) for p in pids)
    assert 0.45 <= elapsed < 3, elapsed


async def test_a_second_cancel_during_the_grace_period_kills_at_once(make_ctx, leftovers):
    runner = exec_runner(["{python}", "-c", IGNORE_TERM], kill_grace=30)
    task, pids = await _start_and_read_pids(runner, make_ctx, leftovers)
    started = time.monotonic()
    task.cancel()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(pids)
    assert time.monotonic() - started < 5


async def test_background_leftovers_are_ended_when_the_program_exits(make_ctx, collect, leftovers):
    script = "import subprocess\nchild = subprocess.Popen(['sleep', '1000'])\nprint(child.pid, flush=True)\n"
    runner = exec_runner(["{python}", "-c", script], kill_grace=1)
    started = time.monotonic()
    chunks = await asyncio.wait_for(collect(runner, make_ctx()), 10)
    assert chunks[-1].exit_code == 0
    leftover = int(stdout_text(chunks)[0])
    leftovers.append(leftover)
    assert await wait_gone([leftover])
    assert time.monotonic() - started < 5


# -- build-time validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"argv": "deploy {service}"}, "'argv' must be a list of strings"),
        ({"argv": []}, "'argv' must not be empty"),
        ({"argv": ["echo", 3]}, "item 1 must be a string"),
        ({"argv": ["{service}", "x"]}, "item 0 is the program to run"),
        ({"argv": ["/usr/bin/{tool}"]}, "item 0 is the program to run"),
        ({"argv": ["echo"], "agrv": ["x"]}, "unknown option 'agrv'"),
        ({"argv": ["echo"], "env": {"BAD-NAME": "x"}}, "bad variable name 'BAD-NAME'"),
        ({"argv": ["echo"], "env": ["X=1"]}, "'env' must be a mapping"),
        ({"argv": ["echo"], "env_allow": ["A=B"]}, "bad variable name"),
        ({"argv": ["echo"], "output_max_bytes": 0}, "'output_max_bytes' must be at least 1"),
        ({"argv": ["echo"], "kill_grace": "5s"}, "'kill_grace' must be a number"),
        ({"argv": ["echo"], "cwd": 5}, "'cwd' must be a string"),
        ({}, "'argv' is required"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError, match="exec runner") as err:
        build_runner(RunnerSpec("exec", options))
    assert message in str(err.value)


def test_unknown_placeholder_is_a_config_error_at_load_time():
    runner = exec_runner(["deploy", "{service}", "--env={enviroment}"], env={"X": "{tag}"})
    check_runner_args(runner, ["service", "enviroment", "tag"])  # names that exist pass
    with pytest.raises(ConfigError, match=r"unknown placeholder \{enviroment\}"):
        check_runner_args(runner, ["service", "environment", "tag"])


def test_argument_named_like_a_builtin_placeholder_is_refused():
    runner = exec_runner(["{python}", "script.py", "{python}"])
    with pytest.raises(ConfigError, match="built-in placeholder"):
        check_runner_args(runner, ["python"])


async def test_literal_braces_survive(make_ctx, collect):
    runner = exec_runner(["{python}", "-c", PRINT_ARGV, "{print $1}", "{{service}}", "{service}"])
    chunks = await collect(runner, make_ctx({"service": "api"}))
    assert json.loads(stdout_text(chunks)[0]) == ["{print $1}", "{service}", "api"]


def test_python_placeholder_is_this_interpreter():
    runner = exec_runner(["{python}", "-V"])
    assert runner.render_argv({})[0] == sys.executable


async def test_a_detached_process_holding_stdout_does_not_keep_the_run_open(make_ctx, collect):
    script = (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
    )
    runner = exec_runner(["{python}", "-c", script], kill_grace=1)
    started = time.monotonic()
    chunks = await asyncio.wait_for(collect(runner, make_ctx()), 10)
    detached = int(stdout_text(chunks)[0])
    try:
        assert chunks[-1].exit_code == 0
        assert time.monotonic() - started < 5
    finally:
        os.kill(detached, 9)  # it left our process group on purpose; the runner leaves it alone
