"""What every command group shares: the two consoles, the ``--config`` / ``--database``
options, and reading the config (or building the whole system) with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from opsroom.app import System
    from opsroom.chat.base import Adapter
    from opsroom.config.loader import LoadedConfig


class _LazyConsole:
    """A rich ``Console`` made on first use. rich is ≈ 45 modules and ≈ 2 MiB resident;
    ``opsroom run`` logging JSON lines (under systemd, in a container) never prints through
    a console, so it never imports rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def _made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    # ``with console:`` (buffered output): special methods are looked up on the class.
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._made().__exit__(*exc)


def lazy_console(**options: Any) -> Console:
    """``Console(**options)``, made when it is first used."""
    return cast("Console", _LazyConsole(**options))


def real_console(console: Console) -> Console:
    """The rich ``Console`` itself, for rich objects that take one (``Progress(console=…)``)."""
    return console._made() if isinstance(console, _LazyConsole) else console


def escape(markup: str) -> str:
    """``rich.markup.escape``, importing rich only when something is printed."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


console = lazy_console(soft_wrap=True)
err = lazy_console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="opsroom.yaml to use (default: ./opsroom.yaml, else the bundled demo).",
        exists=False,
        dir_okay=False,
    ),
]
DbOpt = Annotated[
    str | None, typer.Option("--database", envvar="OPSROOM_DATABASE_URL", help="Database URL, overriding the config's.")
]


def config_error(exc: Exception, title: str = "Configuration error") -> typer.Exit:
    """Say what is wrong (file, line, key) on stderr; the caller raises the returned Exit(2)."""
    err.print(f"[red]{escape(title)}[/]\n{escape(str(exc))}")
    return typer.Exit(2)


def load(config: Path | None) -> LoadedConfig:
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError

    try:
        return load_or_demo(config)
    except ConfigError as exc:
        raise config_error(exc) from None


def build(
    config: Path | None,
    database: str | None,
    adapters: list[Adapter] | None = None,
    *,
    edit_interval: float = 1.0,
    loaded: LoadedConfig | None = None,
    migrate_apart: bool = False,
) -> System:
    """The whole system (database opened and migrated), as ``opsroom run`` and the shell use it;
    ``edit_interval``: how often a run's progress message is edited, at most; ``loaded``: the
    config when the caller has read it already (it is not read twice); ``migrate_apart``: a schema
    upgrade runs in a child process (opsroom.store.migrate_apart)."""
    from opsroom.app import build_system
    from opsroom.core import ConfigError

    loaded = loaded or load(config)
    try:
        return build_system(
            loaded,
            adapters=adapters or [],
            database_url=database,
            edit_interval=edit_interval,
            migrate_apart=migrate_apart,
        )
    except ConfigError as exc:
        raise config_error(exc) from None


def state_folder(loaded: LoadedConfig, database: str | None = None) -> Path:
    """The folder beside the database where a running server leaves its files."""
    import os

    from opsroom.store.state import state_dir

    return state_dir(database or os.environ.get("OPSROOM_DATABASE_URL") or loaded.config.database.url, loaded.base_dir)
