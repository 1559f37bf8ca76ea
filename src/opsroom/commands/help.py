"""Help text built from the catalog, so it can never disagree with what the parser accepts.

``render_help`` only lists what the asker may run (the caller passes the policy check as
``may_run``): help that advertises commands you cannot use is noise, and leaks what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsroom.commands.durations import format_duration
from opsroom.commands.lists import ListUnavailable
from opsroom.commands.values import one_of
from opsroom.core import ArgSpec, ArgType, CommandSpec, Message
from opsroom.core.message import Code, Context, Fields, Section

if TYPE_CHECKING:
    from opsroom.commands.catalog import Catalog
    from opsroom.commands.lists import ChoiceLists


def _shown_default(arg: ArgSpec) -> str:
    value: Any = arg.default
    if arg.secret:
        return "…"
    if arg.type is ArgType.DURATION and isinstance(value, int):
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _usage_part(arg: ArgSpec) -> str:
    if arg.type is ArgType.BOOL:
        flag = f"--no-{arg.name}" if arg.default is True else f"--{arg.name}"
        flag = flag.replace("_", "-")
        return flag if arg.required else f"[{flag}]"
    if arg.positional and arg.greedy:
        return f"<{arg.name}…>" if arg.required else f"[{arg.name}…]"
    if arg.positional:
        if arg.required:
            return f"<{arg.name}>"
        return f"[{arg.name}={_shown_default(arg)}]" if arg.default is not None else f"[{arg.name}]"
    if arg.required:
        return f"{arg.name}=<{arg.name}>"
    return f"[{arg.name}={_shown_default(arg) if arg.default is not None else '…'}]"


def usage(spec: CommandSpec) -> str:
    """E.g. ``deploy <service> <env> [version=latest]``."""
    return " ".join([spec.name, *(_usage_part(a) for a in spec.args)])


def _describe(arg: ArgSpec, lists: ChoiceLists | None) -> str:
    parts: list[str] = []
    if arg.type is ArgType.ENUM:
        parts.append(f"one of {one_of(arg.values)}")
    elif arg.type is ArgType.CHOICE:
        values: list[str] = []
        if lists is not None and arg.choices_from in lists:
            try:
                values = list(lists.get(arg.choices_from))
            except ListUnavailable:  # help must render even if a list is down
                values = []
        parts.append(f"one of {one_of(values)}" if values else f"from the `{arg.choices_from}` list")
    elif arg.type is ArgType.DURATION:
        parts.append("duration like 90s, 15m, 2h, 1d")
    elif arg.type is ArgType.INT:
        parts.append("whole number")
    elif arg.type is ArgType.BOOL:
        parts.append("true/false")
    else:
        parts.append("text" + (f" matching `{arg.pattern}`" if arg.pattern else ""))
    fmt = format_duration if arg.type is ArgType.DURATION else str
    if arg.min is not None:
        parts.append(f"min {fmt(arg.min)}")
    if arg.max is not None:
        parts.append(f"max {fmt(arg.max)}")
    if arg.default is not None:
        parts.append(f"default {_shown_default(arg)}")
    elif not arg.required:
        parts.append("optional")
    if not arg.positional and arg.type is not ArgType.BOOL:
        parts.append(f"give as {arg.name}=…")
    if arg.greedy:
        parts.append("takes the rest of the words")
    if arg.secret:
        parts.append("secret: hidden in logs and chat")
    text = "; ".join(parts)
    return f"{arg.help} ({text})" if arg.help else text


def render_command_help(spec: CommandSpec, lists: ChoiceLists | None = None) -> Message:
    """Everything about one command: usage, each argument, examples, aliases.
    With ``lists``, choice arguments show their current values (up to ten)."""
    blocks: list[Any] = [
        Section(f"*{spec.name}* — {spec.summary}" if spec.summary else f"*{spec.name}*"),
        Code(usage(spec)),
    ]
    if spec.description:
        blocks.append(Section(spec.description))
    if spec.args:
        blocks.append(Fields(tuple((a.name, _describe(a, lists)) for a in spec.args)))
    if spec.examples:
        blocks.append(Section("Examples:"))
        blocks.append(Code("\n".join(spec.examples)))
    notes: list[str] = []
    if spec.aliases:
        notes.append("aliases: " + ", ".join(spec.aliases))
    if spec.channels:
        notes.append("only in " + ", ".join(spec.channels))
    if spec.read_only:
        notes.append("read-only")
    if not spec.builtin:
        notes.append(f"times out after {format_duration(spec.timeout)}")
    if notes:
        blocks.append(Context(" · ".join(notes)))
    return Message(text=f"{usage(spec)} — {spec.summary}", blocks=tuple(blocks))


def render_help(catalog: Catalog, may_run: Callable[[CommandSpec], bool]) -> Message:
    """One line per command the asker may run: usage and summary."""
    lines = [f"`{usage(spec)}` — {spec.summary}" for spec in catalog if may_run(spec)]
    if not lines:
        return Message.plain("There are no commands you may run here.")
    return Message(
        text=f"{len(lines)} command{'s' if len(lines) != 1 else ''} you can run",
        blocks=(
            Section("*Commands you can run*"),
            Section("\n".join(lines)),
            Context("`help <command>` shows arguments and examples"),
        ),
    )
