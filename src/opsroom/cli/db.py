"""``opsroom db``: the schema as an explicit step.

``opsroom run`` upgrades the database by itself, which is right for one process. Several
replicas, a Helm pre-upgrade hook or a cautious operator want it as a step of its own:
``opsroom db upgrade`` before the new version starts, ``opsroom db check`` to ask whether one
is needed (exit 1 when the schema is behind)."""

from __future__ import annotations

from pathlib import Path

import typer

from opsroom.cli.common import ConfigOpt, DbOpt, lazy_console

db_app = typer.Typer(help="The database schema: upgrade it, or check that it is current.", no_args_is_help=True)
out = lazy_console(soft_wrap=True)
err = lazy_console(stderr=True, soft_wrap=True)


def _engine(config: Path | None, database: str | None):  # type: ignore[no-untyped-def]
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError
    from opsroom.store import create_db_engine
    from opsroom.store.state import resolve_sqlite

    try:
        loaded = load_or_demo(config)
    except ConfigError as exc:
        err.print(f"[red]Configuration error[/]\n{exc}")
        raise typer.Exit(2) from None
    url = resolve_sqlite(database or loaded.config.database.url, loaded.base_dir)
    return create_db_engine(url)


@db_app.command("upgrade")
def upgrade(config: ConfigOpt = None, database: DbOpt = None) -> None:
    """Upgrade the database to this version's schema (safe to run from several replicas at once)."""
    from opsroom.store.migrate import current_revisions, script_heads
    from opsroom.store.migrate import upgrade as run_upgrade

    engine = _engine(config, database)
    try:
        before = current_revisions(engine)
        run_upgrade(engine)
        after = current_revisions(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"The schema is already current ({', '.join(sorted(after)) or 'empty'}).")
    else:
        out.print(f"Upgraded the schema to {', '.join(sorted(after))}.")
    if after != script_heads():  # pragma: no cover - alembic would have raised
        raise typer.Exit(1)


@db_app.command("check")
def check(config: ConfigOpt = None, database: DbOpt = None) -> None:
    """Exit 0 when the schema is current, 1 when `opsroom db upgrade` is needed."""
    from opsroom.store.migrate import current_revisions, script_heads

    engine = _engine(config, database)
    try:
        current, wanted = current_revisions(engine), script_heads()
    finally:
        engine.dispose()
    if current == wanted:
        out.print("The schema is current.")
        return
    out.print(
        f"The schema needs an upgrade: at {', '.join(sorted(current)) or 'nothing (new database)'}, "
        f"this version wants {', '.join(sorted(wanted))}. Run `opsroom db upgrade`."
    )
    raise typer.Exit(1)
