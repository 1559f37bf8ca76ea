"""The runbooks plugin: ``runbook list|show|start|step|cancel`` as catalog commands (the
policy decides each; a step's own command is decided again, as the person who clicks), and
the desk that follows runbook runs, with its watcher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from opsroom.config.loader import LoadedConfig
from opsroom.core import Invocation, Message
from opsroom.plugins import CommandHandler, Declaration, Extension, Live, PeriodicWork

if TYPE_CHECKING:
    from opsroom.builtins import CommandHost


def declare(loaded: LoadedConfig) -> Declaration:
    from opsroom.incidents.commands import RUNBOOK_SPECS

    return Declaration(commands=RUNBOOK_SPECS)


def start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.config.loader import content_dir
    from opsroom.runbooks.desk import RunbookDesk, Watcher
    from opsroom.runbooks.library import runbook_folders
    from opsroom.runbooks.parse import load_runbooks

    # Checked against the catalog by `opsroom check` (runbooks/library.py); here they are read.
    books = load_runbooks(runbook_folders(loaded.config.runbooks, content_dir(loaded)))
    desk = RunbookDesk(
        {b.id: b for b in books}, db=live.db, chat=live.chat, audit=live.audit, mint=live.signer.mint, host=live.host
    )

    def bind(method: Callable[[Invocation], Awaitable[Message | None]]) -> CommandHandler:
        async def run(_host: CommandHost, inv: Invocation) -> Message | None:
            return await method(inv)

        return run

    handlers = {
        "runbook": desk.listing,
        "runbook-list": desk.listing,
        "runbook-show": desk.show,
        "runbook-start": desk.start,
        "runbook-step": desk.step,
        "runbook-cancel": desk.cancel,
    }
    desk.leads = live.leads

    async def watch(_now: object) -> None:  # steps move on what the database says, whenever
        await desk.watch_once()

    live.periodic["runbook-steps"] = PeriodicWork(max(1.0, desk.poll_seconds), watch)
    return Extension(
        name="runbooks",
        handlers={n: bind(m) for n, m in handlers.items()},
        services=[Watcher(desk)],
        extras={"runbooks.desk": desk},
    )
