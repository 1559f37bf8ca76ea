"""What a command is (its spec) and what a parsed command is (an Invocation)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping

from opsroom import jsontext
from opsroom.core.identity import Principal
from opsroom.core.places import Place
from opsroom.core.quickinit import quick_init

# json.dumps(..., sort_keys=True, default=str), its C encoder built once (same bytes: every
# run row stores one, and a pending approval compares it with the one it was asked for).
_FINGERPRINT_JSON = jsontext.encoder(sort_keys=True, default=str)


class ArgType(StrEnum):
    STRING = "string"
    ENUM = "enum"
    INT = "int"
    BOOL = "bool"
    DURATION = "duration"  # "15m", "2h", "90s" -> seconds (int)
    CHOICE = "choice"  # one of a dynamic list, e.g. known services


@dataclass(frozen=True)
class ArgSpec:
    name: str
    type: ArgType = ArgType.STRING
    help: str = ""
    required: bool = True
    default: Any = None
    values: tuple[str, ...] = ()  # enum values
    choices_from: str = ""  # name of a dynamic list (choice)
    pattern: str = ""  # regex a string must fully match
    min: int | None = None
    max: int | None = None
    max_length: int = 200
    positional: bool = True  # False: only as key=value / --flag
    secret: bool = False  # value redacted wherever it is shown or stored
    greedy: bool = False  # the last positional string arg takes the rest of the words (e.g. a query)


@dataclass(frozen=True)
class RunnerSpec:
    """``type`` picks the runner (exec, http, python, or a provider name); ``options`` are
    that runner's own settings, validated by the runner."""

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HookSpec:
    """Something to do after a run: another catalog command, or a provider action."""

    command: str = ""  # e.g. "status {service} {env}"
    action: str = ""  # provider action name, e.g. "ticket.open"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    summary: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    args: tuple[ArgSpec, ...] = ()
    examples: tuple[str, ...] = ()
    runner: RunnerSpec | None = None
    timeout: float = 300.0
    lock: str = ""  # template, e.g. "deploy:{service}:{env}"
    channels: tuple[str, ...] = ()  # allowed channel names; empty = anywhere
    on_success: tuple[HookSpec, ...] = ()
    on_failure: tuple[HookSpec, ...] = ()
    read_only: bool = False
    builtin: bool = False  # handled by the engine itself (help, runs, audit…)
    output_max_chars: int = 1_000_000  # stored output is capped at this size
    options: Mapping[str, Any] = field(default_factory=dict)  # room for later features

    def arg(self, name: str) -> ArgSpec | None:
        return self._args_by_name.get(name)

    @functools.cached_property
    def _args_by_name(self) -> dict[str, ArgSpec]:
        # The first argument of a name wins, as a scan in order would find it.
        return {a.name: a for a in reversed(self.args)}

    @functools.cached_property
    def free_args(self) -> tuple[ArgSpec, ...]:
        """The arguments bare words fill, in order: positional ones other than booleans (the
        parser asks once per word; worked out once, as ``secret_args``)."""
        return tuple(a for a in self.args if a.positional and a.type is not ArgType.BOOL)

    @functools.cached_property
    def required_args(self) -> tuple[str, ...]:
        """Names of the required arguments, in order."""
        return tuple(a.name for a in self.args if a.required)

    @functools.cached_property
    def secret_args(self) -> frozenset[str]:
        """Names of the secret arguments (asked for several times per command; the spec never
        changes, so it is worked out once; not a field: equality and repr are unchanged)."""
        return frozenset(a.name for a in self.args if a.secret)

    @functools.cached_property
    def fingerprint_tail(self) -> str:
        """The end of every ``Invocation.fingerprint`` text of this command: its name, encoded
        once (the JSON is ``{"a": <args>, "c": <name>}``, keys sorted)."""
        return ', "c": ' + _FINGERPRINT_JSON(self.name) + "}"


@quick_init  # one a command (core/quickinit.py)
@dataclass(frozen=True)
class Invocation:
    """A parsed command with validated, typed arguments. ``args`` only holds known names."""

    command: CommandSpec
    args: Mapping[str, Any]
    raw_text: str
    principal: Principal
    place: Place
    flags: Mapping[str, Any] = field(default_factory=dict)  # engine flags like dry_run

    @property
    def name(self) -> str:
        return self.command.name

    def canonical(self) -> str:
        """The command as opsroom understood it, e.g. ``deploy service=api env=staging``.
        Secret arguments show as ``•••``: this text is posted and stored."""
        secret = self.command.secret_args
        parts = [self.command.name] + [f"{k}={'•••' if k in secret else v}" for k, v in sorted(self.args.items())]
        return " ".join(parts)

    def shown_args(self, mask: str = "•••") -> dict[str, Any]:
        """The arguments as they may be shown or stored anywhere: secret ones masked."""
        secret = self.command.secret_args
        if not secret:
            return dict(self.args)
        return {k: (mask if k in secret else v) for k, v in self.args.items()}

    def shown_text(self) -> str:
        """What was typed, with the values of secret arguments masked."""
        text = self.raw_text
        secret = self.command.secret_args
        if not secret:
            return text
        for name, value in self.args.items():
            if name in secret and str(value):
                text = text.replace(str(value), "•••")
        return text

    def describe(self) -> str:
        """``*deploy* `api-gateway` `staging``` — what is being run, in the user's own terms.
        The one description chat progress, holds, audit, console, API and tickets show:
        secret arguments are masked here, so no caller can forget to."""
        shown = self.shown_args() if self.command.secret_args else self.args  # (no copy to read)
        values = " ".join([f"`{v}`" for v in shown.values() if v not in (None, "", False)])
        flags = " (dry run)" if self.flags.get("dry_run") else ""
        return f"*{self.command.name}* {values}{flags}".strip()

    def fingerprint(self) -> str:
        """A hash of command + arguments, so an approval binds to exactly this command."""
        # The text of _FINGERPRINT_JSON({"c": name, "a": dict(args)}), byte for byte (sorted
        # keys: "a" comes first), with only the arguments encoded per call.
        args = self.args if self.args.__class__ is dict else dict(self.args)
        blob = '{"a": ' + _FINGERPRINT_JSON(args) + self.command.fingerprint_tail
        return hashlib.sha256(blob.encode()).hexdigest()
