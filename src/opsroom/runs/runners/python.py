"""The ``python`` runner: calls an ``async def f(ctx: RunContext)`` inside opsroom.

The function may be an async generator (yielding ``OutputChunk``s or strings as it goes) or a
coroutine returning a string, an ``OutputChunk`` or None. An exception is a failed run: the
user sees its message, the log gets the traceback.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.runs.runners.options import Options

log = logging.getLogger(__name__)

OPTIONS = ("function", "callable", "supports_dry_run")


class PythonRunner:
    def __init__(
        self, function: Callable[[RunContext], Any], *, name: str = "", supports_dry_run: bool = False
    ) -> None:
        self.function = function
        self.name = name or _describe(function)
        self.supports_dry_run = supports_dry_run

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset()

    def check_args(self, arg_names: object) -> None:
        """Nothing to check: the function reads ``ctx.args`` itself."""

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        if ctx.dry_run and not self.supports_dry_run:
            yield OutputChunk(f"dry run: would call {self.name}", exit_code=0)
            return
        finished = False
        try:
            result = self.function(ctx)
            if inspect.isasyncgen(result) or hasattr(result, "__anext__"):
                try:
                    async for item in result:
                        chunk = _as_chunk(item)
                        yield chunk
                        if chunk.exit_code is not None:
                            finished = True
                            break
                finally:
                    if inspect.isasyncgen(result):
                        await result.aclose()  # run its cleanup now, not whenever GC gets to it
            elif inspect.isawaitable(result):
                value = await result
                if value is not None:
                    # What a coroutine returns is its last word: one chunk carrying the exit
                    # code (the run's end follows at once; no progress edit is made for it).
                    if value.__class__ is str:
                        chunk = OutputChunk(value, exit_code=0)
                    else:
                        chunk = _as_chunk(value)
                        if chunk.exit_code is None:
                            chunk = dataclasses.replace(chunk, exit_code=0)
                    yield chunk
                    finished = True
            else:
                raise TypeError(f"{self.name} is not async: it returned {type(result).__name__}")
        except Exception as err:  # noqa: BLE001 - any failure of user code is a failed run
            log.exception("python runner %s failed in run %s", self.name, ctx.run_id)
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            yield OutputChunk(message, "stderr", exit_code=1)
            return
        if not finished:
            yield OutputChunk("", exit_code=0)


def _as_chunk(item: object) -> OutputChunk:
    if isinstance(item, OutputChunk):
        return item
    if isinstance(item, str):
        return OutputChunk(item)
    raise TypeError(f"yielded or returned a {type(item).__name__}; expected a string or OutputChunk")


def _describe(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{module}:{name}"


def load_callable(path: str) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` (attr may be dotted), with errors a person can act on."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"python runner: option 'callable' must look like 'package.module:function', not {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"python runner: cannot import module {module_name!r} ({err})") from err
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise ConfigError(f"python runner: {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise ConfigError(f"python runner: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _check_async(function: Callable[..., Any], name: str) -> None:
    """Reject a plain ``def`` early; callable objects are checked by their ``__call__``."""
    call: Any = function
    if not (inspect.isfunction(call) or inspect.ismethod(call)):
        call = type(function).__dict__.get("__call__")  # an instance with an async __call__
    if (inspect.isfunction(call) or inspect.ismethod(call)) and not (
        inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
    ):
        raise ConfigError(f"python runner: {name} must be defined with 'async def'")


def build(options: Mapping[str, Any]) -> PythonRunner:
    """Factory registered as runner type ``python``."""
    opts = Options("python", options, OPTIONS)
    if opts.has("function") == opts.has("callable"):
        raise ConfigError(
            "python runner: set exactly one of 'function' (a Python callable) or 'callable' ('package.module:function')"
        )
    if opts.has("function"):
        function = options["function"]
        if not callable(function):
            raise opts.error("function", f"must be callable, not {type(function).__name__}")
        name = _describe(function)
    else:
        name = opts.string("callable")
        function = load_callable(name)
    _check_async(function, name)
    return PythonRunner(function, name=name, supports_dry_run=opts.boolean("supports_dry_run", False))
