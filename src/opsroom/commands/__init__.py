"""Commands: the catalog (YAML + Python plugins), the parser, and help.

Write a command in Python::

    from opsroom.commands import arg, command

    @command("echo", summary="Repeat text", args=[arg("text")], read_only=True)
    async def echo(ctx: RunContext) -> str:
        return ctx.args["text"]
"""

from opsroom.commands.catalog import Catalog
from opsroom.commands.decorators import (
    ENTRY_POINT_GROUP,
    Registry,
    arg,
    builtin,
    command,
    default_registry,
    discover_plugins,
)
from opsroom.commands.durations import format_duration, parse_duration
from opsroom.commands.help import render_command_help, render_help, usage
from opsroom.commands.lists import ChoiceLists, ListUnavailable
from opsroom.commands.parser import DEFAULT_ENGINE_FLAGS, extract, parse

__all__ = [
    "Catalog",
    "ChoiceLists",
    "DEFAULT_ENGINE_FLAGS",
    "ENTRY_POINT_GROUP",
    "ListUnavailable",
    "Registry",
    "arg",
    "builtin",
    "command",
    "default_registry",
    "discover_plugins",
    "extract",
    "format_duration",
    "parse",
    "parse_duration",
    "render_command_help",
    "render_help",
    "usage",
]
