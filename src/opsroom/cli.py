"""The ``opsroom`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opsroom.guardrails_cli import policy_app

app = typer.Typer(
    name="opsroom",
    help="Self-hosted ChatOps: commands, approvals, alerts and a tamper-evident audit trail in your team's chat.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
audit_app = typer.Typer(help="Search, verify and export the audit trail.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")
app.add_typer(policy_app, name="policy")
app.add_typer(__import__("opsroom.web.cli", fromlist=["user_app"]).user_app, name="user")
app.add_typer(__import__("opsroom.web.cli", fromlist=["token_app"]).token_app, name="token")
app.add_typer(__import__("opsroom.store.cli", fromlist=["db_app"]).db_app, name="db")
app.add_typer(__import__("opsroom.desk.cli", fromlist=["kb_app"]).kb_app, name="kb")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

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


def _version(value: bool) -> None:
    if value:
        from opsroom.buildinfo import version_line

        console.print(version_line())
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """opsroom runs operations work inside the chat your team already uses."""


def _load(config: Path | None):  # type: ignore[no-untyped-def]
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError

    try:
        return load_or_demo(config)
    except ConfigError as exc:
        err.print(f"[red]Configuration error[/]\n{exc}")
        raise typer.Exit(2) from None


def _system(config: Path | None, database: str | None, adapters: list | None = None):  # type: ignore[no-untyped-def,type-arg]
    from opsroom.app import build_system
    from opsroom.core import ConfigError

    loaded = _load(config)
    try:
        return build_system(loaded, adapters=adapters or [], database_url=database)
    except ConfigError as exc:
        err.print(f"[red]Configuration error[/]\n{exc}")
        raise typer.Exit(2) from None


def _port_taken(host: str, port: int) -> str:
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


@app.command()
def run(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(envvar="OPSROOM_HOST", help="Address to listen on (default from config: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="OPSROOM_PORT", help="Port to listen on (default from config: 8080).")
    ] = None,
    database: DbOpt = None,
) -> None:
    """Start opsroom: chat adapters, the HTTP server (web chat, webhooks, /metrics) and run workers."""
    import uvicorn

    from opsroom import logs
    from opsroom.app import build_adapters
    from opsroom.store.state import record_server, state_dir
    from opsroom.web.app import build_app
    from opsroom.web.serving import event_loop_factory

    started = time.monotonic()
    loaded = _load(config)
    bind_host = host or loaded.config.server.host
    bind_port = port or loaded.config.server.port
    taken = _port_taken(bind_host, bind_port)
    if taken:  # one sentence, before any migration or log line
        err.print(f"[red]✗[/] {taken}")
        raise typer.Exit(2)
    logs.setup(loaded.config.log_level)
    system = _system(config, database, build_adapters(loaded))
    web = build_app(system)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the
    # app believes it only from server.trusted_proxies (opsroom.web.app).
    server = uvicorn.Server(
        uvicorn.Config(
            web, host=bind_host, port=bind_port, log_config=None, access_log=False, lifespan="on", proxy_headers=False
        )
    )

    server_file: list[Path] = []  # written once the server listens, removed when it stops

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload(system, config))

        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.02)
            label = " (demo)" if loaded.config.demo else ""
            url = f"http://{bind_host}:{bind_port}"
            folder = state_dir(database or loaded.config.database.url, loaded.base_dir)
            server_file.append(record_server(folder, url))
            err.print(f"opsroom{label} ready on {url} in {time.monotonic() - started:.2f}s — config: {loaded.source}")
            from opsroom.web import passwords

            await asyncio.to_thread(passwords.warm)  # off the ready path (see passwords._dummy)

        watcher = asyncio.create_task(announce())
        try:
            await server.serve()
        finally:
            for path in server_file:
                path.unlink(missing_ok=True)
        watcher.cancel()

    pidfile = _pidfile(loaded)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve())
    finally:
        pidfile.unlink(missing_ok=True)


def _pidfile(loaded) -> Path:  # type: ignore[no-untyped-def]
    """Where `opsroom run` notes its pid, so `opsroom reload` can find it."""
    from opsroom.store.state import state_dir

    return state_dir(loaded.config.database.url, loaded.base_dir) / ".opsroom.pid"


@app.command()
def reload(config: ConfigOpt = None) -> None:
    """Tell a running `opsroom run` to re-read its config and policy (same as SIGHUP).
    It validates first and keeps the running configuration on any error."""
    loaded = _load(config)
    pidfile = _pidfile(loaded)
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        err.print(f"no running opsroom found for {loaded.source} (no live pid in {pidfile})")
        raise typer.Exit(1) from None
    console.print(f"asked opsroom (pid {pid}) to reload; its log says whether the new configuration was taken")


def _reload(system, config: Path | None) -> None:  # type: ignore[no-untyped-def]
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError

    try:
        summary = system.reload(load_or_demo(config), actor="SIGHUP")
        err.print(f"configuration reloaded: {summary}")
    except ConfigError as exc:
        err.print(f"[red]reload refused; keeping the running configuration[/]\n{exc}")


@app.command()
def shell(
    user: Annotated[str, typer.Option("--user", "-u", help="Who you are (a user from the config).")],
    channel: Annotated[str, typer.Option(help="Channel to pretend to be in, for policy rules.")] = "#ops",
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Chat with the bot in the terminal. Reads one message per line when input is not a terminal,
    and then exits 0 when all went well, 2 on a parse error, 3 on a denial, 4 when a run failed,
    5 when a run still waits for an approval (docs/cli.md)."""
    from opsroom import shell_exit
    from opsroom.chat.terminal import TerminalAdapter
    from opsroom.core import MessageEvent, Place

    terminal = TerminalAdapter()
    system = _system(config, database, [terminal])
    interactive = sys.stdin.isatty()
    place = Place("shell", channel.lstrip("#"), channel_name=channel)
    if system.engine.parts.directory.get(user) is None:
        err.print(f"[yellow]{user} is not a configured user: you get only what everyone may do.[/]")

    async def session() -> int:
        await system.start()
        try:
            if interactive:
                label = " demo" if system.config.demo else ""
                console.print(
                    f"opsroom{label} shell as [bold]{user}[/] in {channel}. Type `help`, or `exit` (Ctrl-D) to leave."
                )
            since = shell_exit.mark(system.db)
            n = 0
            while True:
                line = await asyncio.to_thread(_read_line, interactive)
                if line is None or line.strip().lower() in ("exit", "quit", "/exit", "/quit"):
                    break
                if not line.strip():
                    continue
                n += 1
                await system.engine.handle(MessageEvent(place, user, line, message_id=str(n), addressed=True))
                if not interactive:
                    await system.runs.drain()
            await system.runs.drain()
            return shell_exit.exit_code(system.db, user, since) if not interactive else 0
        finally:
            await system.stop()

    code = asyncio.run(session())
    if code:
        raise typer.Exit(code)


def _read_line(interactive: bool) -> str | None:
    try:
        return input("› ") if interactive else sys.stdin.readline() or None
    except EOFError:
        return None


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("opsroom.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example opsroom.yaml (the demo's configuration) to start from."""
    from opsroom.config.loader import DEMO_CONFIG

    if path.exists() and not force:
        err.print(f"{path} exists; use --force to overwrite it.")
        raise typer.Exit(1)
    path.write_text(DEMO_CONFIG.read_text())
    for extra in [*DEMO_CONFIG.parent.glob("*.tests.yaml"), DEMO_CONFIG.parent / "kb-questions.yaml"]:
        target = path.parent / extra.name
        if not target.exists() or force:
            target.write_text(extra.read_text())
    for folder in ("kb", "runbooks"):  # the demo's content, which the written config points at
        (path.parent / folder).mkdir(exist_ok=True)
        for source in (DEMO_CONFIG.parent / folder).glob("*.md"):
            if not (path.parent / folder / source.name).exists() or force:
                (path.parent / folder / source.name).write_text(source.read_text())
    console.print(
        f"wrote {path}. Check it with [bold]opsroom check --config {path}[/], start with [bold]opsroom run[/]."
    )


@app.command()
def check(config: ConfigOpt = None) -> None:
    """Validate opsroom.yaml, the command catalog, the runners and the policy. Exit 0 when all is well."""
    from opsroom.core import ConfigError

    loaded = _load(config)
    try:
        from opsroom.app import declared_parts

        parts = declared_parts(loaded)
    except ConfigError as exc:
        err.print(f"[red]✗ {loaded.source}[/]\n{exc}")
        raise typer.Exit(2) from None
    content = _check_content(loaded, parts.catalog)
    for warning in _check_oncall(loaded):
        console.print(f"[yellow]⚠[/] {warning}")
    n_rules = len(loaded.config.policy.rules)
    from opsroom.policy.breadth import breadth_warnings

    warnings = breadth_warnings(parts.policy, parts.catalog, list(parts.directory), loaded.config.channels)
    warnings += [w for w in parts.policy.warnings if "no policy is configured" not in w]
    for warning in warnings:
        err.print(f"[bold yellow]⚠ WARNING:[/] {warning}")
    verdict = "all valid" if not warnings else f"valid, but see {len(warnings)} warning(s) above"
    console.print(
        f"[green]✓[/] {loaded.source}: {len(parts.catalog)} commands, "
        f"{len(loaded.config.users)} users, {n_rules} policy rules{content} — {verdict}"
    )


def _check_content(loaded: Any, catalog: Any) -> str:
    """Runbooks (each step parsed against the catalog) and KB articles, with file and line."""
    from opsroom.config.loader import content_dir
    from opsroom.core import ConfigError
    from opsroom.desk.kb import KnowledgeBase
    from opsroom.runbooks.library import load_library

    base = content_dir(loaded)
    try:
        books = load_library(loaded.config.runbooks, base, catalog)
        articles = KnowledgeBase.load(loaded.config.kb, base).articles if loaded.config.kb.paths else []
    except ConfigError as exc:
        err.print(f"[red]✗ {loaded.source}[/]\n{exc}")
        raise typer.Exit(2) from None
    counts = ((len(books), "runbook"), (len(articles), "KB article"))
    shown = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts if n]
    return "".join(f", {s}" for s in shown)


def _check_oncall(loaded: Any) -> list[str]:
    """Read the iCal feeds once, as the server will, and say who in them maps to no one."""
    import asyncio
    import datetime as dt

    from opsroom.integrations.oncall.oncall import OnCall

    oncall_config = loaded.config.oncall
    if not any(layer.ical_url or layer.ical_file for s in oncall_config.schedules.values() for layer in s.layers):
        return []
    directory = OnCall(oncall_config)
    return asyncio.run(directory.check_feeds(dt.datetime.now(dt.UTC), set(loaded.config.users)))


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of opsroom.yaml (for editors and CI validation)."""
    from opsroom.config.loader import json_schema

    console.print_json(json.dumps(json_schema()))


def _audit(config: Path | None, database: str | None):  # type: ignore[no-untyped-def]
    from opsroom.audit import AuditLog
    from opsroom.store import Database
    from opsroom.store.state import resolve_sqlite

    loaded = _load(config)
    url = resolve_sqlite(database or loaded.config.database.url, loaded.base_dir)
    return AuditLog(Database.open(url), timezone=loaded.config.audit.timezone)


@audit_app.command("search")
def audit_search(
    query: Annotated[list[str] | None, typer.Argument(help="e.g. rollback since last tuesday user:alice")] = None,
    limit: Annotated[int, typer.Option(help="How many entries at most.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON Lines instead of a table (same as --format json).")
    ] = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (never wrapped when piped), tsv (one line per entry, tab-separated) or json (JSON Lines).",
        ),
    ] = "table",
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Search the audit trail: words, user:NAME, command:NAME, channel:#X, action:X, run:N, since …, until …"""
    from opsroom.core import ParseError

    fmt = "json" if as_json else output_format.lower()
    if fmt not in ("table", "tsv", "json"):
        err.print(f"[red]--format must be table, tsv or json, not {output_format!r}[/]")
        raise typer.Exit(2)
    log = _audit(config, database)
    text = " ".join(query or [])
    try:
        entries = log.search(log.parse(text), limit=limit)
    except ParseError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if fmt == "json":
        for e in entries:
            print(json.dumps(_entry_dict(e), default=str))
        return
    rows = [
        (str(e.id), e.ts.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.command, str(e.run_id or ""), e.summary)
        for e in entries
    ]
    if fmt == "tsv":
        print("id\ttime_utc\tactor\taction\tcommand\trun\tsummary")
        for row in rows:
            print("\t".join(" ".join(cell.split()) for cell in row))  # no tab or newline inside a cell
        return
    table = Table("id", "time (UTC)", "actor", "action", "command", "run", "summary", box=None)
    for row in rows:
        table.add_row(*row[:-1], row[-1][:100])
    if console.is_terminal:
        console.print(table)
    else:  # piped: full-width lines, never wrapped into slivers at the pipe's default width
        Console(width=10_000, no_color=True).print(table, overflow="ignore", crop=False)
    console.print(f"[dim]{len(entries)} entries (newest first)[/]")


def _entry_dict(e) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "id": e.id,
        "ts": e.ts.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "command": e.command,
        "platform": e.platform,
        "channel": e.channel,
        "run_id": e.run_id,
        "summary": e.summary,
        "detail": e.detail,
        "hash": e.hash,
    }


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None, database: DbOpt = None) -> None:
    """Recompute the hash chain; name any altered, deleted or reordered row. Exit 1 if broken."""
    from rich.progress import Progress

    log = _audit(config, database)
    with Progress(transient=True, console=err) as progress:
        task = progress.add_task("verifying", total=None)
        report = log.verify(progress=lambda done, total: progress.update(task, completed=done, total=total))
    if report.ok:
        console.print(f"[green]✓ audit chain intact[/]: {report.rows_checked} rows verified")
        return
    console.print(f"[red]✗ audit chain broken[/]: intact up to row {report.last_good_id}")
    for problem in report.problems:
        console.print(f"  row {problem.id}: {problem.what} — {problem.detail}")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    query: Annotated[list[str] | None, typer.Argument(help="Optional search to export only matches.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Export the audit trail as JSON Lines (oldest first, with hashes) for a SIEM or an auditor."""
    log = _audit(config, database)
    text = " ".join(query or []) or None
    if output is None:
        count = log.export(sys.stdout, text)
    else:
        with output.open("w", encoding="utf-8") as fp:
            count = log.export(fp, text)
    err.print(f"exported {count} entries" + (f" to {output}" if output else ""))


demo_app = typer.Typer(help="Things to try in the bundled demo.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("alert")
def demo_alert(
    url: Annotated[str | None, typer.Option(help="The running opsroom (default: from the config).")] = None,
    resolve: Annotated[bool, typer.Option("--resolve", help="Send the 'resolved' notification instead.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Fire the demo alert "payments API error rate above 2%" at a running opsroom, through
    its real Alertmanager webhook (POST /hooks/alertmanager/demo)."""
    import datetime as dt

    import httpx

    from opsroom.alerts.demo import demo_payload

    loaded = _load(config)
    if "demo" not in loaded.config.alerts.sources:
        err.print(
            "this config has no alert source named `demo`; point your Alertmanager at "
            "/hooks/alertmanager instead (docs/alerts.md)"
        )
        raise typer.Exit(2)
    source = loaded.config.alerts.sources["demo"]
    token = os.environ.get(source.token_env) or ("demo-alert-token" if loaded.config.demo else "")
    from opsroom.store.state import running_server, state_dir

    database_url = os.environ.get("OPSROOM_DATABASE_URL") or loaded.config.database.url
    base = (
        url
        or running_server(state_dir(database_url, loaded.base_dir))
        or f"http://{loaded.config.server.host}:{loaded.config.server.port}"
    )
    payload = demo_payload(dt.datetime.now(dt.UTC), status="resolved" if resolve else "firing")
    try:
        response = httpx.post(
            f"{base}/hooks/alertmanager/demo", json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        err.print(
            f"no opsroom answered at {base} ({type(exc).__name__}); start it with `opsroom run`, "
            "or name it with --url http://HOST:PORT"
        )
        raise typer.Exit(1) from None
    if response.status_code != 200:
        err.print(f"{base} answered {response.status_code}: {response.text[:300]}")
        raise typer.Exit(1)
    state = "resolved" if resolve else "fired"
    console.print(f"{state}: payments API error rate above 2% → see #war-room at {base}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
