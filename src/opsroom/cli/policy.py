"""``opsroom policy check`` and ``opsroom policy test``: the policy and guardrails, tried
without running anything, through the same pipeline steps as chat (engine/check.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from opsroom.cli.common import ConfigOpt, escape, lazy_console
from opsroom.core import Principal

policy_app = typer.Typer(
    help="Try the policy and guardrails: check one command, run a test file.", no_args_is_help=True
)
console = lazy_console(highlight=False, soft_wrap=True)
err = lazy_console(stderr=True, highlight=False, soft_wrap=True)


def _parts(config: Path | None) -> tuple[Any, Any]:
    from opsroom.app import declared_parts  # what every plugin declares: no database
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError

    try:
        loaded = load_or_demo(config)
        return loaded, declared_parts(loaded)
    except ConfigError as exc:
        err.print(f"[red]Configuration error[/]\n{escape(str(exc))}")
        raise typer.Exit(2) from None


def _when(at: str | None) -> dt.datetime | None:
    if not at:
        return None
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        err.print(f"--at takes an ISO time like 2026-03-07T16:30 (UTC unless an offset is given), not {at!r}")
        raise typer.Exit(2) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


@policy_app.command("check")
def check(
    command: Annotated[str, typer.Argument(help='The command as typed, e.g. "deploy api production".')],
    user: Annotated[str, typer.Option("--user", "-u", help="Who types it (a configured user).")],
    channel: Annotated[str, typer.Option(help='Where: "#ops", or "dm".')] = "#ops",
    platform: Annotated[str, typer.Option(help="Chat platform (for platform rules).")] = "shell",
    at: Annotated[str | None, typer.Option(help="Decide at this time (ISO, UTC by default).")] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="Also read live state from this database (freezes switched on from chat, "
            "rate limits, locks); read only."
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Would this command be allowed? The deciding rules and what is still needed.

    Allow or deny, the deciding rule ids, and what is still needed (approval, confirmation,
    a freeze). The same pipeline steps as chat, run without writing anything. Exit 0 when it
    is allowed (even if it needs more), 1 when not."""
    import asyncio

    from opsroom.engine.check import Rules, check, place_of, services_for

    loaded, parts = _parts(config)
    read = None
    if database:
        from opsroom.store.state import resolve_sqlite

        read = _live_state(resolve_sqlite(database, loaded.base_dir))
    services = services_for(parts, Rules.of(loaded.config.guardrails), read=read)
    principal = parts.directory.get(user) or Principal.anonymous(platform, user)
    verdict = asyncio.run(
        check(
            parts.pipeline,
            services,
            principal,
            place_of(channel, platform),
            command,
            people=list(parts.directory),
            now=_when(at),
        )
    )
    verdict.channel = channel
    for line in verdict.lines():
        console.print(escape(line))
    if verdict.outcome not in ("allow",):
        raise typer.Exit(1)


def _live_state(url: str) -> Any:
    """A read-only view of a running opsroom's database; a clear answer when there is none."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from opsroom.store import Database
    from opsroom.store.tables import runs

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        err.print(f"--database: there is no database file at {url.removeprefix('sqlite:///')}")
        raise typer.Exit(2)
    try:
        db = Database.open(url, migrate=False)
        with db.read() as conn:
            conn.execute(select(runs.c.id).limit(1))
    except SQLAlchemyError as exc:
        err.print(
            f"--database: cannot read opsroom's tables there ({type(exc).__name__}); "
            "is it the database of a running opsroom?"
        )
        raise typer.Exit(2) from None
    return db.read


def default_tests_file(loaded: Any) -> Path:
    """``opsroom.tests.yaml`` next to the config; for the bundled demo, the one in the current
    directory if any, else the demo's own."""
    from opsroom.config.loader import DEMO_CONFIG

    if loaded.source is not None:
        return Path(loaded.source).parent / "opsroom.tests.yaml"
    local = Path("opsroom.tests.yaml")
    return local if local.exists() else DEMO_CONFIG.parent / "opsroom.tests.yaml"


@policy_app.command("test")
def test(
    file: Annotated[
        Path | None, typer.Argument(help="YAML test cases (default: opsroom.tests.yaml next to the config).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Run a file of policy test cases; exit 1 if any fails (for CI)."""
    import asyncio

    from opsroom.core import ConfigError
    from opsroom.engine.check import Rules, run_cases, services_for
    from opsroom.policy.policy_tests import load_cases

    loaded, parts = _parts(config)
    path = file or default_tests_file(loaded)
    try:
        cases = load_cases(path)
    except ConfigError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    services = services_for(parts, Rules.of(loaded.config.guardrails))
    results = asyncio.run(run_cases(parts.pipeline, services, list(parts.directory), cases))
    for result in results:
        if result.passed:
            console.print(f"[green]✓[/] {escape(result.label)}")
        else:
            console.print(f"[red]✗[/] {escape(result.label)}")
            for problem in result.problems:
                console.print(f"    {escape(problem)}")
    failed = sum(1 for r in results if not r.passed)
    summary = f"{len(results) - failed} passed, {failed} failed ({path})"
    console.print(("[red]" if failed else "[green]") + escape(summary) + "[/]")
    if failed:
        raise typer.Exit(1)
