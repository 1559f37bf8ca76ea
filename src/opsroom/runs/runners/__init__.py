"""The built-in runners: ``exec`` (a program from an argv template), ``http`` (one request) and
``python`` (an async function). Importing this package registers them.

The catalog loader builds a runner with ``opsroom.runs.registry.build_runner(spec)`` and then
calls ``check_runner_args(runner, arg_names)`` so a template naming an argument the command does
not have is a ConfigError at load time, not a surprise at run time.
"""

from __future__ import annotations

from collections.abc import Collection

from opsroom.core import Runner
from opsroom.runs.registry import RunnerFactory
from opsroom.runs.runners import exec as exec_runner
from opsroom.runs.runners import http as http_runner
from opsroom.runs.runners import python as python_runner
from opsroom.runs.runners.exec import ExecRunner
from opsroom.runs.runners.http import HttpRunner
from opsroom.runs.runners.python import PythonRunner


def check_runner_args(runner: Runner, arg_names: Collection[str]) -> None:
    """Raise ConfigError if the runner's templates use a placeholder that is not one of
    ``arg_names``. Runners without templates (providers) are accepted as they are."""
    check = getattr(runner, "check_args", None)
    if check is not None:
        check(arg_names)


# The runner types every opsroom has (declared by the ``runners`` plugin).
RUNNER_TYPES: dict[str, RunnerFactory] = {
    "exec": exec_runner.build,
    "http": http_runner.build,
    "python": python_runner.build,
}

__all__ = ["RUNNER_TYPES", "ExecRunner", "HttpRunner", "PythonRunner", "check_runner_args"]
