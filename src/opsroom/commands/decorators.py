"""The Python API for commands: ``@command`` / ``arg`` / ``builtin``, and plugin discovery.

Errbot's good idea, kept: opsroom's own commands (help, runs, audit…) are declared with the
same API a user would use. Importing a module that uses ``@command`` registers its commands
in a registry; ``Catalog.from_config`` collects them together with YAML commands.
Third-party packages expose modules through the ``opsroom.commands`` entry-point group.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from opsroom.commands.durations import parse_duration
from opsroom.commands.validate import spec_problems
from opsroom.core import ArgSpec, ArgType, CommandSpec, ConfigError, HookSpec, RunnerSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "opsroom.commands"
F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Commands declared in Python, with where each came from (for error messages)."""

    def __init__(self) -> None:
        self._specs: dict[str, tuple[str, CommandSpec]] = {}

    def add(self, spec: CommandSpec, source: str) -> CommandSpec:
        """Validate and register; the same source may re-register (a reloaded module)."""
        problems = spec_problems(spec)
        if problems:
            raise ConfigError("\n".join(f"{source}: command `{spec.name}`: {key}: {msg}" for key, msg in problems))
        held = self._specs.get(spec.name)
        if held is not None and held[0] != source:
            raise ConfigError(f"{source}: command `{spec.name}` is already registered by {held[0]}")
        self._specs[spec.name] = (source, spec)
        return spec

    def entries(self) -> list[tuple[str, CommandSpec]]:
        """(source, spec) pairs in registration order."""
        return list(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


default_registry = Registry()


def _seconds(value: int | float | str | None) -> int | None:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as err:
            raise ConfigError(f"duration {value!r}: {err}") from None
    return None if value is None else int(value)


def arg(
    name: str,
    type: ArgType | str = ArgType.STRING,
    *,
    help: str = "",  # noqa: A002
    required: bool | None = None,
    default: Any = None,
    values: Iterable[str] = (),
    choices_from: str = "",
    pattern: str = "",
    min: int | str | None = None,  # noqa: A002
    max: int | str | None = None,
    max_length: int = 200,
    positional: bool = True,  # noqa: A002
    secret: bool = False,
    greedy: bool = False,
) -> ArgSpec:
    """An argument. ``required`` defaults to True unless a ``default`` is given; for
    durations, ``default``/``min``/``max`` may be written like ``"15m"``. ``greedy``: the
    last positional string argument takes all remaining words (``audit rollback since …``)."""
    kind = ArgType(type)
    if kind is ArgType.DURATION:
        default = _seconds(default) if isinstance(default, str) else default
        min, max = _seconds(min), _seconds(max)
    return ArgSpec(
        name=name,
        type=kind,
        help=help,
        required=default is None if required is None else required,
        default=default,
        values=tuple(values),
        choices_from=choices_from,
        pattern=pattern,
        min=min,  # type: ignore[arg-type]
        max=max,  # type: ignore[arg-type]
        max_length=max_length,
        positional=positional,
        secret=secret,
        greedy=greedy,
    )


def _hooks(items: Iterable[HookSpec | str]) -> tuple[HookSpec, ...]:
    return tuple(h if isinstance(h, HookSpec) else HookSpec(command=h) for h in items)


def _spec(
    name: str,
    *,
    summary: str,
    description: str,
    aliases: Iterable[str],
    args: Iterable[ArgSpec],
    examples: Iterable[str],
    timeout: float | str,
    lock: str,
    channels: Iterable[str],
    read_only: bool,
    on_success: Iterable[HookSpec | str],
    on_failure: Iterable[HookSpec | str],
    output_max_chars: int,
    options: Mapping[str, Any] | None,
    runner: RunnerSpec | None,
    builtin: bool,
) -> CommandSpec:
    seconds = _seconds(timeout) if isinstance(timeout, str) else timeout
    return CommandSpec(
        name=name,
        summary=summary,
        description=description,
        aliases=tuple(aliases),
        args=tuple(args),
        examples=tuple(examples),
        runner=runner,
        timeout=float(seconds or 0),
        lock=lock,
        channels=tuple(channels),
        on_success=_hooks(on_success),
        on_failure=_hooks(on_failure),
        read_only=read_only,
        builtin=builtin,
        output_max_chars=output_max_chars,
        options=dict(options or {}),
    )


def _source_docstring(fn: Callable[..., Any]) -> str:
    """``fn``'s docstring read from its source: ``opsroom run`` runs under ``python -OO``
    (opsroom.lean_imports_oo), which drops ``__doc__``, and a command's summary defaults to it."""
    import sys

    if sys.flags.optimize < 2:
        return ""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return ""
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return ast.get_docstring(node) or ""
    return ""


def command(
    name: str,
    *,
    summary: str = "",
    description: str = "",
    aliases: Iterable[str] = (),
    args: Iterable[ArgSpec] = (),
    examples: Iterable[str] = (),
    timeout: float | str = 300.0,
    lock: str = "",
    channels: Iterable[str] = (),
    read_only: bool = False,
    on_success: Iterable[HookSpec | str] = (),
    on_failure: Iterable[HookSpec | str] = (),
    output_max_chars: int = 1_000_000,
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> Callable[[F], F]:
    """Declare a command run by a Python function (``async def f(ctx: RunContext)``).

    The spec's runner is ``RunnerSpec("python", {"function": f})``; the summary defaults to
    the first line of the docstring. The function is returned unchanged, with the spec as
    ``f.command_spec``.
    """

    def decorate(fn: F) -> F:
        doc = (fn.__doc__ or _source_docstring(fn)).strip().splitlines()
        spec = _spec(
            name,
            summary=summary or (doc[0].strip() if doc else ""),
            description=description,
            aliases=aliases,
            args=args,
            examples=examples,
            timeout=timeout,
            lock=lock,
            channels=channels,
            read_only=read_only,
            on_success=on_success,
            on_failure=on_failure,
            output_max_chars=output_max_chars,
            options=options,
            runner=RunnerSpec("python", {"function": fn}),
            builtin=False,
        )
        source = f"{fn.__module__}.{fn.__qualname__}"
        (default_registry if registry is None else registry).add(spec, source)
        fn.command_spec = spec  # type: ignore[attr-defined]
        return fn

    return decorate


def builtin(
    name: str,
    *,
    summary: str,
    description: str = "",
    aliases: Iterable[str] = (),
    args: Iterable[ArgSpec] = (),
    examples: Iterable[str] = (),
    timeout: float | str = 300.0,
    read_only: bool = False,
    options: Mapping[str, Any] | None = None,
    source: str = "opsroom",
    registry: Registry | None = None,
) -> CommandSpec:
    """Declare a command the engine executes itself (help, runs, cancel, audit…): it gets
    parsed, authorized and audited like any other, but has no runner."""
    spec = _spec(
        name,
        summary=summary,
        description=description,
        aliases=aliases,
        args=args,
        examples=examples,
        timeout=timeout,
        lock="",
        channels=(),
        read_only=read_only,
        on_success=(),
        on_failure=(),
        output_max_chars=1_000_000,
        options=options,
        runner=None,
        builtin=True,
    )
    return (default_registry if registry is None else registry).add(spec, source)


def discover_plugins(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Import every module named by an ``opsroom.commands`` entry point; importing it
    registers its commands. Returns the entry point names, for the start-up log."""
    loaded = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        try:
            ep.load()
        except ConfigError as err:
            raise ConfigError(f"plugin `{ep.name}` ({dist}): {err}") from None
        except Exception as err:  # plugin code: any import failure is a config problem
            raise ConfigError(
                f"plugin `{ep.name}` ({dist}): cannot import `{ep.value}`: {type(err).__name__}: {err}"
            ) from err
        loaded.append(ep.name)
        log.debug("loaded command plugin %s from %s", ep.name, dist)
    return loaded
