"""The ``exec`` runner: runs a program from an argv template. Never a shell.

Each argv item is a template; an argument value fills its placeholder inside that one item and
can never become a second item, an option of a shell, or a redirection. The program runs in a
new session (its own process group) with stdin on /dev/null and a scrubbed environment, and
when the run ends — finished, cancelled or timed out — whatever is left of that group is ended:
TERM first, KILL after ``kill_grace`` seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.runs.runners import templating
from opsroom.runs.runners.options import Options
from opsroom.runs.runners.output import ByteBudget, LineSplitter
from opsroom.runs.runners.templating import Template, TemplateError

DEFAULT_ENV_ALLOW = ("PATH", "LANG", "HOME", "TZ")
DEFAULT_OUTPUT_MAX_BYTES = 1_000_000
DEFAULT_KILL_GRACE = 5.0
#: After the program exits, how long to wait for the pipes to close before ending leftovers
#: (a background child still holding stdout would otherwise keep the run open forever).
DRAIN_AFTER_EXIT = 1.0
READ_SIZE = 64 * 1024

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPTIONS = ("argv", "env", "env_allow", "cwd", "output_max_bytes", "kill_grace", "preflight")


class ExecRunner:
    """Runs ``argv`` (rendered from templates) as a child process group."""

    def __init__(
        self,
        argv: list[Template],
        *,
        env: Mapping[str, Template] | None = None,
        env_allow: Collection[str] = DEFAULT_ENV_ALLOW,
        cwd: str | None = None,
        output_max_bytes: int = DEFAULT_OUTPUT_MAX_BYTES,
        kill_grace: float = DEFAULT_KILL_GRACE,
        preflight: list[Template] | None = None,
    ) -> None:
        self.argv = argv
        self.preflight_argv = list(preflight or [])
        self.env = dict(env or {})
        self.env_allow = tuple(env_allow)
        self.cwd = cwd
        self.output_max_bytes = output_max_bytes
        self.kill_grace = kill_grace

    # -- build-time checks ------------------------------------------------------------------

    @property
    def placeholders(self) -> frozenset[str]:
        """Every ``{name}`` the templates use (arguments and built-ins)."""
        names: set[str] = set()
        for template in [*self.argv, *self.preflight_argv, *self.env.values()]:
            names |= template.arg_names
        return frozenset(names)

    def check_args(self, arg_names: Collection[str]) -> None:
        """Raise ConfigError if a template names something that is not an argument."""
        templating.check_names(self.placeholders, arg_names, runner="exec")

    # -- rendering --------------------------------------------------------------------------

    def render_argv(self, args: Mapping[str, Any]) -> list[str]:
        return [template.render(args) for template in self.argv]

    def render_env(self, ctx: RunContext) -> dict[str, str]:
        """opsroom's own environment contributes only the allowed names; then what the engine
        sets for this run; then the command's ``env`` (which may read ``${NAME}`` explicitly)."""
        env = {name: os.environ[name] for name in self.env_allow if name in os.environ}
        env.update(ctx.env)
        for name, template in self.env.items():
            env[name] = template.render(ctx.args)
        return env

    async def preflight(self, args: Mapping[str, Any]) -> str | None:
        """The ``preflight`` program's refusal, or None (none declared, or it let it go on)."""
        if not self.preflight_argv:
            return None
        from opsroom.runs.runners.preflight import run_check

        try:
            argv = [template.render(args) for template in self.preflight_argv]
            env = {name: os.environ[name] for name in self.env_allow if name in os.environ}
            env.update({name: template.render(args) for name, template in self.env.items()})
        except TemplateError:
            return None  # the run itself will say what is wrong with its arguments
        return await run_check(argv, env, self.cwd)

    # -- running ----------------------------------------------------------------------------

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        try:
            argv = self.render_argv(ctx.args)
            env = self.render_env(ctx)
        except TemplateError as err:
            yield OutputChunk(f"cannot run: {err}", "stderr", exit_code=1)
            return
        if ctx.dry_run:
            where = f" (in {self.cwd})" if self.cwd else ""
            yield OutputChunk(f"dry run: would run {shlex.join(argv)}{where}", exit_code=0)
            return
        if self.cwd is not None and not os.path.isdir(self.cwd):
            yield OutputChunk(f"cannot run: working directory {self.cwd} does not exist", "stderr", exit_code=1)
            return

        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            where = "" if "/" in argv[0] else " on PATH"
            yield OutputChunk(f"cannot run {argv[0]}: program not found{where}", "stderr", exit_code=127)
            return
        except PermissionError:
            yield OutputChunk(f"cannot run {argv[0]}: permission denied", "stderr", exit_code=126)
            return
        except OSError as err:
            yield OutputChunk(f"cannot run {argv[0]}: {err.strerror or err}", "stderr", exit_code=126)
            return
        except ValueError:
            # The only ValueError create_subprocess_exec raises for str input: a NUL byte.
            yield OutputChunk("cannot run: an argument or environment value contains a NUL byte", "stderr", exit_code=1)
            return
        if ctx.on_process is not None:
            try:  # recorded so a restart after a crash can end this group (runs/orphans.py)
                ctx.on_process(proc.pid)
            except BaseException:
                await _end_group_shielded(proc, 0.5)  # not recorded: do not leave it running
                raise

        budget = ByteBudget(self.output_max_bytes)
        queue: asyncio.Queue[tuple[str, bytes | None]] = asyncio.Queue()
        tasks = [
            asyncio.create_task(_read(proc.stdout, "stdout", budget, queue)),
            asyncio.create_task(_read(proc.stderr, "stderr", budget, queue)),
            asyncio.create_task(_wait_exit(proc, queue)),
        ]
        splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
        loop = asyncio.get_running_loop()
        try:
            open_streams = {"stdout", "stderr"}
            drain_deadline: float | None = None
            while open_streams:
                if drain_deadline is None:
                    stream, data = await queue.get()
                else:
                    try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can drop a Cancel
                        async with asyncio.timeout_at(drain_deadline):
                            stream, data = await queue.get()
                    except TimeoutError:
                        break  # leftover processes still hold the pipes; they are ended below
                if stream == "exit":
                    drain_deadline = loop.time() + DRAIN_AFTER_EXIT
                    continue
                if data is None:
                    open_streams.discard(stream)
                    lines = splitters[stream].finish()
                else:
                    lines = splitters[stream].feed(data)
                for line in lines:
                    yield OutputChunk(line, stream)
            await _exited(proc)
            # End leftovers of the group now, then give the readers a moment to see EOF so the
            # last lines written before they died are not lost.
            await _end_group_shielded(proc, self.kill_grace)
            await asyncio.wait(tasks[:2], timeout=0.5)
        finally:
            await _end_group_shielded(proc, self.kill_grace)
            for task in tasks:
                task.cancel()
            # A process that left the group (setsid) may still hold our pipes; stop listening.
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()

        while not queue.empty():
            stream, data = queue.get_nowait()
            if stream != "exit" and data is not None:
                for line in splitters[stream].feed(data):
                    yield OutputChunk(line, stream)
        for stream in ("stdout", "stderr"):
            for line in splitters[stream].finish():
                yield OutputChunk(line, stream)
        if budget.dropped:
            yield OutputChunk(budget.dropped_line(), "stderr")
        code = proc.returncode if proc.returncode is not None else 1
        if code < 0:
            name = _signal_name(-code)
            yield OutputChunk(f"killed by signal {name}", "stderr", exit_code=128 - code)
        else:
            yield OutputChunk("", "stdout", exit_code=code)


async def _read(
    reader: asyncio.StreamReader | None,
    stream: str,
    budget: ByteBudget,
    queue: asyncio.Queue[tuple[str, bytes | None]],
) -> None:
    """Copy one pipe into the queue until EOF. Past the budget, keep reading (so the child
    never blocks on a full pipe) but only count what is dropped."""
    assert reader is not None
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            break
        kept = budget.take(data)
        if kept:
            queue.put_nowait((stream, kept))
    queue.put_nowait((stream, None))


async def _wait_exit(proc: asyncio.subprocess.Process, queue: asyncio.Queue[tuple[str, bytes | None]]) -> None:
    await _exited(proc)
    queue.put_nowait(("exit", None))


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Wait for the program itself to exit. Not ``proc.wait()``: on Python 3.11 that also waits
    for the pipes to close, which a background child still holding stdout delays forever."""
    delay = 0.001
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


async def _end_group_shielded(proc: asyncio.subprocess.Process, grace: float) -> None:
    """End the process group even if we are cancelled again while waiting out the grace
    period: a second cancellation skips straight to KILL."""
    task = asyncio.ensure_future(_end_group(proc, grace))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        _signal_group(proc.pid, signal.SIGKILL)
        raise


async def _end_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """TERM the whole group, wait up to ``grace`` seconds for it to be gone, then KILL."""
    pgid = proc.pid  # start_new_session makes the child the leader of a group with its pid
    if proc.returncode is None or _group_alive(pgid):
        _signal_group(pgid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline:
            if proc.returncode is not None and not _group_alive(pgid):
                break
            await asyncio.sleep(0.05)
        else:
            _signal_group(pgid, signal.SIGKILL)
    await _exited(proc)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running. Zombies do not count: an orphaned
    grandchild is reaped by init, which may take its time (seconds in some containers)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the group id was reused by someone else's process
        return False
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux: trust killpg
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()  # state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def build(options: Mapping[str, Any]) -> ExecRunner:
    """Factory registered as runner type ``exec``."""
    opts = Options("exec", options, OPTIONS)
    argv_src = opts.string_list("argv")
    if not argv_src:
        raise opts.error("argv", "must not be empty")
    argv = [templating.parse(item, where=f"exec runner: argv[{i}]") for i, item in enumerate(argv_src)]
    if not argv_src[0] or (argv[0].arg_names - set(templating.BUILTINS)):
        raise opts.error(
            "argv", "item 0 is the program to run; it must be fixed text (or {python}), never an argument value"
        )
    env: dict[str, Template] = {}
    for name, value in opts.string_map("env").items():
        if not _ENV_NAME.fullmatch(name):
            raise opts.error("env", f"has a bad variable name {name!r}")
        env[name] = templating.parse(value, where=f"exec runner: env.{name}", allow_env=True)
    env_allow = opts.string_list("env_allow", list(DEFAULT_ENV_ALLOW))
    for name in env_allow:
        if not _ENV_NAME.fullmatch(name):
            raise opts.error("env_allow", f"has a bad variable name {name!r}")
    cwd = opts.string("cwd") if opts.has("cwd") else None
    check = [
        templating.parse(item, where=f"exec runner: preflight[{i}]")
        for i, item in enumerate(opts.string_list("preflight", []))
    ]
    if check and (not opts.raw["preflight"][0] or check[0].arg_names - set(templating.BUILTINS)):
        raise opts.error("preflight", "item 0 is the program to run; it must be fixed text (or {python})")
    return ExecRunner(
        argv,
        env=env,
        env_allow=env_allow,
        cwd=cwd,
        output_max_bytes=opts.integer("output_max_bytes", DEFAULT_OUTPUT_MAX_BYTES, minimum=1),
        kill_grace=opts.number("kill_grace", DEFAULT_KILL_GRACE),
        preflight=check,
    )


__all__ = ["ExecRunner", "build", "ConfigError"]
