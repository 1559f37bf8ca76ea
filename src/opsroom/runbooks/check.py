"""``opsroom check`` for runbooks: every step's command must parse against the catalog, with
each ``{input}`` replaced by a value of its declared type; inputs must be used and known;
``auto`` only on read-only commands; ``when`` may read inputs and steps above it only.

Problems come back as ``file:line: message`` strings, all of them at once, like the config check.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from opsroom.commands.catalog import Catalog
from opsroom.commands.lists import ListUnavailable
from opsroom.commands.parser import parse
from opsroom.core import ArgSpec, ArgType, ParseError, Place, Principal
from opsroom.runbooks.model import Runbook, Step
from opsroom.runbooks.when import STEP_FACTS, names

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CHECKER = Principal(name="opsroom-check")
_NOWHERE = Place(platform="check", channel="check", channel_name="#check")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """The command text with each ``{input}`` replaced by its value, quoted for the parser so
    a value with spaces or quotes stays one argument and can never add another."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None or value == "":
            return "''"
        if isinstance(value, bool):
            return "true" if value else "false"
        return shlex.quote(str(value))

    return PLACEHOLDER.sub(one, template)


def example_value(arg: ArgSpec, catalog: Catalog, examples: Mapping[str, str]) -> str | None:
    """A value of the input's type for checking; None when none can be made up."""
    if arg.name in examples:
        return examples[arg.name]
    if arg.default is not None:
        return str(arg.default).lower() if isinstance(arg.default, bool) else str(arg.default)
    if arg.type is ArgType.ENUM and arg.values:
        return arg.values[0]
    if arg.type is ArgType.CHOICE:
        try:
            values = catalog.lists.get(arg.choices_from)
        except ListUnavailable:
            return None
        return values[0] if values else None
    if arg.type is ArgType.INT:
        return str(arg.min if arg.min is not None else 1)
    if arg.type is ArgType.BOOL:
        return "true"
    if arg.type is ArgType.DURATION:
        return f"{arg.min if arg.min is not None else 300}s"
    if arg.type is ArgType.STRING and not arg.pattern:
        return "example"
    return None


def _when_problems(book: Runbook, step: Step, earlier: set[str]) -> list[str]:
    if step.when is None:
        return []
    problems = []
    for name in sorted(names(step.when)):
        parts = name.split(".")
        if parts[0] == "steps":
            if len(parts) != 3 or parts[2] not in STEP_FACTS:
                problems.append(f"when: '{name}': write steps.<id>.{'|'.join(STEP_FACTS)}")
            elif parts[1] not in earlier:
                problems.append(f"when: '{name}' names no step above this one")
        elif len(parts) != 1 or book.input(name) is None:
            problems.append(f"when: '{name}' is not an input of this runbook")
    return problems


def runbook_problems(book: Runbook, catalog: Catalog) -> list[str]:
    where = str(book.path)
    problems: list[str] = []
    samples: dict[str, str] = {}
    for arg in book.inputs:
        sample = example_value(arg, catalog, book.examples)
        if sample is None:
            problems.append(f"{where}:1: input '{arg.name}' needs an `example:` value to check the steps with")
        else:
            samples[arg.name] = sample
    used: set[str] = set()
    earlier: set[str] = set()
    for step in book.steps:
        at = f"{where}:{step.line}: step '{step.id}'"
        problems += [f"{at}: {p}" for p in _when_problems(book, step, earlier)]
        if step.when is not None:
            used |= {n for n in names(step.when) if "." not in n}
        earlier.add(step.id)
        if step.kind != "command":
            continue
        wanted = PLACEHOLDER.findall(step.text)
        used |= set(wanted)
        unknown = sorted({w for w in wanted if book.input(w) is None})
        if unknown:
            problems.append(
                f"{at}: unknown input(s) {', '.join('{' + u + '}' for u in unknown)}; "
                f"inputs: {', '.join(a.name for a in book.inputs) or 'none'}"
            )
            continue
        if any(w not in samples for w in wanted):
            continue  # already reported: no example value
        try:
            invocation = parse(fill(step.text, samples), catalog, _CHECKER, _NOWHERE)
        except ParseError as err:
            problems.append(f"{at}: `{step.text}` does not parse: {err}")
            continue
        if step.auto and not invocation.command.read_only:
            problems.append(
                f"{at}: auto=true only for read-only commands; `{invocation.command.name}` "
                "changes things, so someone must click Run"
            )
    for arg in book.inputs:
        if arg.name not in used:
            problems.append(f"{where}:1: input '{arg.name}' is never used by a step")
    return problems
