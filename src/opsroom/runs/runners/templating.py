"""Templates in runner options: ``{name}`` for an argument value, ``${NAME}`` for an
environment variable (only where a runner allows it).

A template is parsed once, at build time, into literal text and placeholders. Rendering fills
the placeholders in a single pass and never looks at the inserted values again, so an argument
value that itself contains ``{x}`` or ``${SECRET}`` is just text: it cannot pull in another
argument or an environment variable. Only ``{identifier}`` is a placeholder; any other brace
(``{print $1}`` in an awk program, a JSON object) is literal, and ``{{`` / ``}}`` give a literal
brace where it would otherwise be read as a placeholder.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from opsroom.core import ConfigError

_TOKEN = re.compile(r"\{\{|\}\}|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Placeholders opsroom fills itself; a command argument may not shadow them.
BUILTINS: Mapping[str, Callable[[], str]] = {"python": lambda: sys.executable}


class TemplateError(ConfigError):
    """A template could not be filled at run time (missing argument or environment variable).
    The message names what is missing, never a value."""


@dataclass(frozen=True)
class Arg:
    name: str


@dataclass(frozen=True)
class EnvRef:
    name: str


Part = str | Arg | EnvRef


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[Part, ...]

    @property
    def arg_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, Arg))

    @property
    def env_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, EnvRef))

    @property
    def single_arg(self) -> str | None:
        """The argument name when the whole template is exactly ``{name}``."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Arg):
            return self.parts[0].name
        return None

    def render(
        self,
        args: Mapping[str, Any],
        *,
        quote: Callable[[str], str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> str:
        """Fill the template. ``quote`` is applied to argument values only (URL-quoting);
        ``environ`` is where ``${NAME}`` is looked up (the template must allow env refs)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Arg):
                value = arg_text(part.name, args)
                out.append(quote(value) if quote else value)
            else:
                env = os.environ if environ is None else environ
                if part.name not in env:
                    raise TemplateError(f"environment variable {part.name} is not set")
                out.append(env[part.name])
        return "".join(out)


def parse(source: str, *, where: str, allow_env: bool = False) -> Template:
    """Parse ``source``; ``where`` names the option in error messages (e.g. ``argv[2]``)."""
    if not isinstance(source, str):
        raise ConfigError(f"{where} must be a string, not {type(source).__name__}")
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(source):
        literal.append(source[pos : match.start()])
        pos = match.end()
        piece, env_name, arg_name = match.group(0), match.group(1), match.group(2)
        if piece == "{{":
            literal.append("{")
        elif piece == "}}":
            literal.append("}")
        elif env_name is not None and not allow_env:
            # Not an env ref here: "$" stays literal and "{NAME}" is an argument placeholder.
            literal.append("$")
            parts.extend(_flush(literal))
            parts.append(Arg(env_name))
        else:
            parts.extend(_flush(literal))
            parts.append(EnvRef(env_name) if env_name is not None else Arg(arg_name))
    literal.append(source[pos:])
    parts.extend(_flush(literal))
    return Template(source, tuple(parts))


def _flush(literal: list[str]) -> list[Part]:
    text = "".join(literal)
    literal.clear()
    return [text] if text else []


def arg_text(name: str, args: Mapping[str, Any]) -> str:
    """An argument value as it appears in a command line: bools as ``true``/``false``,
    a missing optional argument as the empty string."""
    if name in BUILTINS:
        return BUILTINS[name]()
    if name not in args:
        raise TemplateError(f"the template refers to {{{name}}}, which is not an argument of this command")
    value = args[name]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_names(used: Collection[str], arg_names: Collection[str], *, runner: str) -> None:
    """Raise ConfigError when a template uses a placeholder that is neither an argument of the
    command nor a built-in, or when an argument shadows a built-in placeholder."""
    unknown = sorted(set(used) - set(arg_names) - set(BUILTINS))
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        known = ", ".join(sorted(arg_names)) or "none"
        raise ConfigError(f"{runner} runner: unknown placeholder {names} (arguments: {known})")
    shadowed = sorted(set(arg_names) & set(BUILTINS) & set(used))
    if shadowed:
        raise ConfigError(
            f"{runner} runner: argument {shadowed[0]!r} has the name of a built-in placeholder; rename it"
        )
