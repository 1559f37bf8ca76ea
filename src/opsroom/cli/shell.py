"""``opsroom shell``: the bot in the terminal."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from opsroom.cli.common import ConfigOpt, DbOpt, build, console, err


def shell(
    user: Annotated[str, typer.Option("--user", "-u", help="Who you are (a user from the config).")],
    channel: Annotated[str, typer.Option(help="Channel to pretend to be in, for policy rules.")] = "#ops",
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Chat with the bot in this terminal, or run a script of commands.

    At a terminal each run shows as one block updated in place. Fed from a pipe or a file it
    reads one message per line and exits 0 when all went well, 2 on a parse error, 3 on a
    denial, 4 when a run failed, 5 when a run still waits for an approval (docs/cli.md)."""
    from opsroom import logs
    from opsroom.chat.terminal import TerminalAdapter
    from opsroom.cli import exit_codes
    from opsroom.core import MessageEvent, Place

    # What goes wrong (a runner that raises, a hook that fails) is logged to stderr as
    # `opsroom run` logs it at a terminal: warnings and errors, secrets masked. Unset, Python
    # printed those records raw, an exception's text and all.
    logs.setup("warning", json=False)
    interactive = sys.stdin.isatty()
    # A person at a terminal: each run is one block redrawn in place, and the prompt comes
    # back only when the line's runs are over, so it never lands inside their output.
    terminal = TerminalAdapter(live=interactive and console.is_terminal)
    system = build(config, database, [terminal], edit_interval=0.25 if terminal.live else 1.0)
    place = Place("shell", channel.lstrip("#"), channel_name=channel)
    if system.engine.parts.directory.get(user) is None:
        err.print(f"[yellow]{user} is not a configured user: you get only what everyone may do.[/]")

    async def wait_for_runs() -> None:
        """Until this line's runs end; Ctrl-C cancels them (recorded as cancelled by ``user``)."""
        loop = asyncio.get_running_loop()
        if interactive:
            loop.add_signal_handler(signal.SIGINT, lambda: [system.runs.cancel(i, by=user) for i in system.runs.live])
        try:
            await system.runs.drain()
        finally:
            if interactive:
                loop.remove_signal_handler(signal.SIGINT)

    async def session() -> int:
        await system.start()
        try:
            if interactive:
                label = " demo" if system.config.demo else ""
                console.print(
                    f"opsroom{label} shell as [bold]{user}[/] in {channel}. "
                    "Type `help`, or `exit` (Ctrl-D) to leave; Ctrl-C cancels a running command."
                )
            since = exit_codes.mark(system.db)
            n = 0
            while True:
                line = await asyncio.to_thread(read_line, interactive)
                if line is None or line.strip().lower() in ("exit", "quit", "/exit", "/quit"):
                    break
                if not line.strip():
                    continue
                n += 1
                await system.engine.handle(MessageEvent(place, user, line, message_id=str(n), addressed=True))
                await wait_for_runs()
            await system.runs.drain()
            return exit_codes.exit_code(system.db, user, since) if not interactive else 0
        finally:
            await system.stop()

    code = asyncio.run(session())
    if code:
        raise typer.Exit(code)


def read_line(interactive: bool) -> str | None:
    try:
        return input("› ") if interactive else sys.stdin.readline() or None
    except EOFError:
        return None
