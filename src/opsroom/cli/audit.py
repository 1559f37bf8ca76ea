"""``opsroom audit``: search, verify and export the tamper-evident audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from opsroom.cli.common import ConfigOpt, DbOpt, console, err, escape, load, real_console

if TYPE_CHECKING:
    from opsroom.audit import AuditLog

audit_app = typer.Typer(help="Search, verify and export the audit trail.", no_args_is_help=True)


def _audit(config: Path | None, database: str | None) -> AuditLog:
    from opsroom.audit import AuditLog
    from opsroom.store import Database
    from opsroom.store.state import resolve_sqlite

    loaded = load(config)
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
        err.print(f"[red]{escape(str(exc))}[/]")
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
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "time (UTC)", "actor", "action", "command", "run", "summary", box=None)
    for row in rows:
        table.add_row(*row[:-1], row[-1][:100])
    if console.is_terminal:
        console.print(table)
    else:  # piped: full-width lines, never wrapped into slivers at the pipe's default width
        Console(width=10_000, no_color=True).print(table, overflow="ignore", crop=False)
    console.print(f"[dim]{len(entries)} entries (newest first)[/]")


def _entry_dict(e: Any) -> dict[str, Any]:
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
    with Progress(transient=True, console=real_console(err)) as progress:
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
