"""Getting started and staying valid: ``opsroom init``, ``opsroom check``, ``opsroom config schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from opsroom.cli.common import ConfigOpt, console, err, escape, load

config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)


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


def check(config: ConfigOpt = None) -> None:
    """Validate opsroom.yaml, the command catalog, the runners and the policy. Exit 0 when all is well."""
    from opsroom.core import ConfigError

    loaded = load(config)
    try:
        from opsroom.app import declared_parts

        parts = declared_parts(loaded)
    except ConfigError as exc:
        err.print(f"[red]✗ {loaded.source}[/]\n{escape(str(exc))}")
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
        err.print(f"[red]✗ {loaded.source}[/]\n{escape(str(exc))}")
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
