"""Checks every CommandSpec gets, however it was declared (YAML or Python).

``spec_problems`` looks at one spec alone; ``catalog_problems`` at the whole set (duplicate
names, list names, hook targets). Each problem is (key, message) so the caller can say
which file, command and key is wrong.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import replace

from opsroom.commands.values import ArgValueError, closest, convert
from opsroom.core import ArgSpec, ArgType, CommandSpec

NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
ARG_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Names the engine keeps for its own flags (--dry-run, --break-glass) and for --help.
RESERVED_ARG_NAMES = frozenset({"dry_run", "break_glass", "help"})
MAX_INPUT = 2000

Problem = tuple[str, str]


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields of a template; ValueError for anything but plain names
    (attribute or index access like ``{a.b}`` / ``{a[0]}`` could reach into objects)."""
    fields: list[str] = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not ARG_NAME_RE.fullmatch(field) or spec or conversion:
            raise ValueError(
                f"`{{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}` is not a plain `{{arg}}` field"
            )
        fields.append(field)
    return fields


def _check_template(key: str, template: str, arg_names: Sequence[str]) -> list[Problem]:
    try:
        fields = template_fields(template)
    except ValueError as err:
        return [(key, str(err))]
    problems = []
    for field in fields:
        if field not in arg_names:
            guess = closest(field, arg_names)
            hint = f" — did you mean `{guess}`?" if guess else ""
            known = ", ".join(arg_names) or "none"
            problems.append((key, f"`{{{field}}}` is not an argument of this command (arguments: {known}){hint}"))
    return problems


def _arg_problems(i: int, arg: ArgSpec) -> list[Problem]:
    key = f"args[{i}]"
    out: list[Problem] = []
    if not ARG_NAME_RE.fullmatch(arg.name):
        out.append((f"{key}.name", f"`{arg.name}` must be lowercase letters, digits and _, starting with a letter"))
    elif arg.name in RESERVED_ARG_NAMES:
        out.append((f"{key}.name", f"`{arg.name}` is reserved for opsroom's own flags"))
    if arg.type is ArgType.ENUM:
        if not arg.values:
            out.append((f"{key}.values", "an enum needs `values`"))
        folded = [v.casefold() for v in arg.values]
        if len(set(folded)) != len(folded):
            out.append((f"{key}.values", "values must differ (case is ignored when matching)"))
        if any(not v or not v.strip() or v != v.strip() for v in arg.values):
            out.append((f"{key}.values", "values must be non-empty, without surrounding spaces"))
    elif arg.values:
        out.append((f"{key}.values", f"`values` is only for enum arguments, not {arg.type.value}"))
    if arg.type is ArgType.CHOICE and not arg.choices_from:
        out.append((f"{key}.choices_from", "a choice needs `choices_from` (the name of a list)"))
    elif arg.type is not ArgType.CHOICE and arg.choices_from:
        out.append((f"{key}.choices_from", "`choices_from` is only for choice arguments"))
    if arg.pattern:
        if arg.type is not ArgType.STRING:
            out.append((f"{key}.pattern", "`pattern` is only for string arguments"))
        else:
            try:
                re.compile(arg.pattern)
            except re.error as err:
                out.append((f"{key}.pattern", f"bad regular expression: {err}"))
    if (arg.min is not None or arg.max is not None) and arg.type not in (ArgType.INT, ArgType.DURATION):
        out.append((f"{key}.min", "`min`/`max` are only for int and duration arguments"))
    if arg.min is not None and arg.max is not None and arg.min > arg.max:
        out.append((f"{key}.max", f"max ({arg.max}) is below min ({arg.min})"))
    if not 1 <= arg.max_length <= MAX_INPUT:
        out.append((f"{key}.max_length", f"must be between 1 and {MAX_INPUT}"))
    if arg.greedy and (arg.type is not ArgType.STRING or not arg.positional):
        out.append((f"{key}.greedy", "only a positional string argument can take the remaining words"))
    if arg.required and arg.default is not None:
        out.append((f"{key}.default", "a required argument cannot have a default"))
    if arg.default is not None and not any(k.startswith(f"{key}.") for k, _ in out):
        out.extend(_default_problems(key, arg))
    return out


def _default_problems(key: str, arg: ArgSpec) -> list[Problem]:
    """A default must be a value the parser would have produced."""
    default = arg.default
    if arg.type in (ArgType.INT, ArgType.DURATION):
        ok, what = isinstance(default, int) and not isinstance(default, bool), "whole number"
    elif arg.type is ArgType.BOOL:
        ok, what = isinstance(default, bool), "true or false"
    else:
        ok, what = isinstance(default, str), "string"
    if not ok:
        return [(f"{key}.default", f"must be a {what}, got {default!r}")]
    if arg.type in (ArgType.CHOICE, ArgType.BOOL, ArgType.STRING):
        # A choice list may change at runtime; a string default is often a sentinel the
        # runner understands ("latest") that users are not meant to type, so the pattern
        # does not apply to it.
        return []
    raw = f"{default}s" if arg.type is ArgType.DURATION else str(default)
    try:
        value = convert(replace(arg, secret=False), raw, None)
    except ArgValueError as err:
        return [(f"{key}.default", str(err))]
    if value != default:
        return [(f"{key}.default", f"write it as `{value}`, exactly as in `values`")]
    return []


def spec_problems(spec: CommandSpec) -> list[Problem]:
    out: list[Problem] = []
    if not NAME_RE.fullmatch(spec.name):
        out.append(("name", f"`{spec.name}` must be lowercase ASCII letters, digits, - and _, starting with a letter"))
    for i, alias in enumerate(spec.aliases):
        if not NAME_RE.fullmatch(alias):
            out.append((f"aliases[{i}]", f"`{alias}` must be lowercase ASCII letters, digits, - and _"))
        elif alias == spec.name or alias in spec.aliases[:i]:
            out.append((f"aliases[{i}]", f"`{alias}` repeats a name already given"))
    names = [a.name for a in spec.args]
    seen_optional = ""
    greedy = ""
    for i, arg in enumerate(spec.args):
        out.extend(_arg_problems(i, arg))
        if arg.name in names[:i]:
            out.append((f"args[{i}].name", f"`{arg.name}` is declared twice"))
        if arg.positional and arg.type is not ArgType.BOOL:
            if greedy:
                out.append(
                    (
                        f"args[{i}].positional",
                        f"`{arg.name}` comes after `{greedy}`, which "
                        "takes all remaining words; make it positional: false",
                    )
                )
            greedy = greedy or (arg.name if arg.greedy else "")
            if not arg.required:
                seen_optional = seen_optional or arg.name
            elif seen_optional:
                out.append(
                    (
                        f"args[{i}].required",
                        f"required positional `{arg.name}` comes after optional `{seen_optional}`; put it first",
                    )
                )
    if spec.builtin and spec.runner is not None:
        out.append(("runner", "a builtin command is run by the engine and takes no runner"))
    if not spec.builtin and spec.runner is None:
        out.append(("runner", "missing: say how to run the command (e.g. `type: exec`)"))
    if spec.runner is not None and not (isinstance(spec.runner.type, str) and spec.runner.type):
        out.append(("runner.type", "missing runner type"))
    if not spec.timeout > 0:
        out.append(("timeout", "must be longer than 0s"))
    if spec.output_max_chars < 1:
        out.append(("output_max_chars", "must be at least 1"))
    if spec.lock:
        out.extend(_check_template("lock", spec.lock, names))
    for group in ("on_success", "on_failure"):
        for i, hook in enumerate(getattr(spec, group)):
            key = f"{group}[{i}]"
            if bool(hook.command) == bool(hook.action):
                out.append((key, "give exactly one of `command` or `action`"))
            elif hook.command:
                out.extend(_check_template(f"{key}.command", hook.command, names))
    callable_as = {spec.name, *spec.aliases}
    for i, example in enumerate(spec.examples):
        words = example.split()
        if not words or words[0].lower() not in callable_as:
            out.append((f"examples[{i}]", f"should start with `{spec.name}`"))
    for i, channel in enumerate(spec.channels):
        if not channel.strip():
            out.append((f"channels[{i}]", "empty channel name"))
    return out


def catalog_problems(entries: Iterable[tuple[str, CommandSpec]], list_names: Iterable[str]) -> list[str]:
    """Problems across commands; ``entries`` pairs each spec with where it came from."""
    lists = sorted(list_names)
    owner: dict[str, tuple[str, str]] = {}  # name or alias -> (command, source)
    out: list[str] = []
    items = list(entries)
    for source, spec in items:
        for i, word in enumerate((spec.name, *spec.aliases)):
            key = "name" if i == 0 else f"aliases[{i - 1}]"
            if word in owner and owner[word] != (spec.name, source):
                other, where = owner[word]
                out.append(
                    f"{source}: command `{spec.name}`: {key}: `{word}` is already used by command `{other}` ({where})"
                )
            owner.setdefault(word, (spec.name, source))
        for i, arg in enumerate(spec.args):
            if arg.type is ArgType.CHOICE and arg.choices_from and arg.choices_from not in lists:
                guess = closest(arg.choices_from, lists)
                hint = f" — did you mean `{guess}`?" if guess else ""
                out.append(
                    f"{source}: command `{spec.name}`: args[{i}].choices_from: unknown list "
                    f"`{arg.choices_from}` (lists: {', '.join(lists) or 'none'}){hint}"
                )
    for source, spec in items:
        for group in ("on_success", "on_failure"):
            for i, hook in enumerate(getattr(spec, group)):
                target = hook.command.split()[0].lower() if hook.command.split() else ""
                if hook.command and target not in owner:
                    out.append(f"{source}: command `{spec.name}`: {group}[{i}].command: unknown command `{target}`")
    return out
