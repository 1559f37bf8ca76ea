"""``opsroom run``: the server. It tries the port before anything else, says it is ready in one
human line (at a terminal; JSON log lines otherwise), records where it listens, and answers
``opsroom reload`` (SIGHUP) with a verdict the asker can read (opsroom.cli.reload)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from opsroom.cli import reload as reloading
from opsroom.cli.common import ConfigOpt, DbOpt, build, err, escape, load, state_folder

if TYPE_CHECKING:
    from opsroom.app import System
    from opsroom.config.loader import LoadedConfig

log = structlog.get_logger("opsroom.server")

LOG_FORMATS = ("auto", "console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def port_taken(host: str, port: int) -> str:
    """Why ``host:port`` cannot be listened on ("" when it can): tried the way uvicorn binds."""
    import errno
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is already in use (another opsroom?): stop it, or pick one with --port"
        if exc.errno == errno.EACCES:
            return f"port {port} on {host} needs privileges this user does not have: pick one above 1023 with --port"
        return f"cannot listen on {host}:{port}: {exc.strerror}"
    return ""


def log_setup(loaded: LoadedConfig, log_format: str, log_level: str | None) -> bool:
    """Set up logging; True when the lines are JSON. At a terminal, unless a level was asked
    for (``--log-level`` or ``log_level`` in the config), only warnings and errors are logged:
    a person sees the one ready line, then only what needs them."""
    from opsroom import logs

    at_terminal = sys.stderr.isatty()
    as_json = log_format == "json" or (log_format == "auto" and not at_terminal)
    level = log_level or loaded.config.log_level
    if at_terminal and not as_json and log_level is None and "log_level" not in loaded.config.model_fields_set:
        level = "warning"
    logs.setup(level, json=as_json)
    return as_json


def ready_line(system: System, url: str, seconds: float) -> str:
    """``opsroom ready on URL — web chat /chat, console /console · database … · config … · 0.84s``"""
    from sqlalchemy.engine import make_url

    label = " (demo)" if system.config.demo else ""
    parts = ["web chat /chat, console /console" if "web" in system.chat.adapters else "console /console"]
    platforms = [name for name in system.chat.adapters if name != "web"]
    if platforms:
        parts.append("chat " + ", ".join(platforms))
    database = make_url(str(system.db.engine.url)).render_as_string(hide_password=True)
    if database.startswith("sqlite:///"):
        path = Path(database.removeprefix("sqlite:///"))
        database = str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
    source = f"config {system.loaded.path}" if system.loaded.path else "the bundled demo config"
    parts += [f"database {database}", source, f"{seconds:.1f}s"]
    return f"opsroom{label} ready on {url} — " + " · ".join(parts)


def run(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(envvar="OPSROOM_HOST", help="Address to listen on (default from config: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="OPSROOM_PORT", help="Port to listen on (default from config: 8080).")
    ] = None,
    database: DbOpt = None,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="OPSROOM_LOG_FORMAT",
            help="auto: readable at a terminal, JSON lines when stderr is a file or a pipe; or json, console.",
        ),
    ] = "auto",
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            envvar="OPSROOM_LOG_LEVEL",
            help="debug, info, warning or error (default: the config's; at a terminal, warning).",
        ),
    ] = None,
) -> None:
    """Start opsroom: chat adapters, web chat, console, API, webhooks and run workers.

    At a terminal it says it is ready in one line and then shows only warnings; with stderr
    going to a file or a pipe it logs JSON lines ([bold]--log-format[/] to choose).
    [bold]opsroom reload[/] re-reads the config without a restart."""
    from opsroom.lean_imports import import_uvicorn

    import_uvicorn()  # without its command line, before opsroom.web.app imports it (see opsroom.lean_imports)
    from uvicorn.config import Config as UvicornConfig
    from uvicorn.server import Server as UvicornServer

    from opsroom.app import build_adapters
    from opsroom.store.state import record_server
    from opsroom.web.app import build_app
    from opsroom.web.serving import event_loop_factory, websocket_protocol

    started = time.monotonic()
    log_format, log_level = log_format.lower(), log_level.lower() if log_level else None
    if log_format not in LOG_FORMATS or (log_level is not None and log_level not in LOG_LEVELS):
        wrong = f"--log-format {log_format}" if log_format not in LOG_FORMATS else f"--log-level {log_level}"
        err.print(
            f"[red]✗[/] {escape(wrong)}: the format is auto, console or json; the level debug, info, warning or error"
        )
        raise typer.Exit(2)
    loaded = load(config)
    bind_host = host or loaded.config.server.host
    bind_port = port or loaded.config.server.port
    taken = port_taken(bind_host, bind_port)
    if taken:  # one sentence, before any migration or log line
        err.print(f"[red]✗[/] {taken}")
        raise typer.Exit(2)
    as_json = log_setup(loaded, log_format, log_level)
    # A schema that is behind is upgraded by a child process (nothing of Alembic stays here).
    from opsroom.store.migrate_apart import MigrationFailed

    try:
        system = build(config, database, build_adapters(loaded), loaded=loaded, migrate_apart=True)
    except MigrationFailed as exc:
        err.print(f"[red]✗[/] the database could not be upgraded: {escape(str(exc))}")
        raise typer.Exit(1) from None
    web = build_app(system)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the
    # app believes it only from server.trusted_proxies (opsroom.web.app).
    server = UvicornServer(
        UvicornConfig(
            web,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=False,
            ws=websocket_protocol(),  # type: ignore[arg-type]  # a factory: uvicorn only calls it
        )
    )
    folder = state_folder(loaded, database)
    server_file: list[Path] = []  # written once the server listens, removed when it stops

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: answer_reload(system, config, folder, as_json=as_json))

        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.02)
            url = f"http://{bind_host}:{bind_port}"
            reloading.inbox(folder)
            server_file.append(record_server(folder, url))
            line = ready_line(system, url, time.monotonic() - started)
            if as_json:
                log.info("opsroom ready", url=url, summary=line)
            else:
                err.print(escape(line), highlight=False)
            from opsroom.web import passwords

            await asyncio.to_thread(passwords.warm)  # off the ready path (see passwords._dummy)

        watcher = asyncio.create_task(announce())
        try:
            await server.serve()
        finally:
            for path in server_file:
                path.unlink(missing_ok=True)
        watcher.cancel()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve())


def answer_reload(system: System, config: Path | None, folder: Path, *, as_json: bool) -> None:
    """SIGHUP: re-read the config and answer every ``opsroom reload`` waiting in ``folder``
    (those that asked before this reload began get its verdict; a later one sends its own signal)."""
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError

    waiting = reloading.pending(folder)
    try:
        summary = system.reload(load_or_demo(config), actor="SIGHUP")
    except ConfigError as exc:
        verdict = reloading.Verdict(ok=False, text=str(exc))
    else:
        verdict = reloading.Verdict(ok=True, text=summary)
    if as_json:
        if verdict.ok:
            log.info("configuration reloaded", changes=verdict.text)
        else:
            log.warning("reload refused; keeping the running configuration", reason=verdict.text)
    else:  # the person who started the server sees what their reload did
        err.print(escape(verdict.sentence()), highlight=False)
    for ask in waiting:
        reloading.answer(folder, ask, verdict)
