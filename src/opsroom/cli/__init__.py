"""The ``opsroom`` command line: one typer app, one module per command group.

serve (``run``), reload, shell (+ exit_codes), setup (``init``, ``check``, ``config``),
audit, policy, db, kb, users (``user``, ``token``), demo; common holds the shared options.

``opsroom run`` builds a command line of that one command (``build_app(only_run=True)``):
the same group, options and help for ``run``, without importing the other command modules or
turning their ≈ 60 commands into click objects, which would stay in the server's memory as
long as it runs (≈ 0.5 MiB; docs/performance.md, "Wave 8 — rss9"). ``app`` (the whole
command line, for tests and ``python -m``) is built when first asked for."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from opsroom.cli.common import console

SERVE, TRY, OPERATE, CONFIGURE = "Run the server", "Try it", "Operate", "Configure"


def _version(value: bool) -> None:
    if value:
        from opsroom.buildinfo import version_line

        console.print(version_line())
        raise typer.Exit()


def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """opsroom runs operations work inside the chat your team already uses.

    Start with [bold]opsroom run[/] (the bundled demo when there is no opsroom.yaml here) and open
    the web chat, or [bold]opsroom shell --user alice[/] to try commands in this terminal."""


def build_app(*, only_run: bool = False) -> typer.Typer:
    """The command line; with ``only_run``, the group holds ``run`` alone (see above)."""
    from opsroom.cli import serve

    built = typer.Typer(
        name="opsroom",
        help="Self-hosted ChatOps: commands, approvals, alerts and a tamper-evident audit trail in your team's chat.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(main_callback)
    built.command("run", rich_help_panel=SERVE)(serve.run)
    if only_run:
        return built
    from opsroom.cli import audit, db, demo, kb, policy, reload, setup, shell, users

    built.command("reload", rich_help_panel=SERVE)(reload.reload)
    built.add_typer(db.db_app, name="db", rich_help_panel=SERVE)
    built.command("shell", rich_help_panel=TRY)(shell.shell)
    built.add_typer(demo.demo_app, name="demo", rich_help_panel=TRY)
    built.add_typer(audit.audit_app, name="audit", rich_help_panel=OPERATE)
    built.add_typer(policy.policy_app, name="policy", rich_help_panel=OPERATE)
    built.add_typer(kb.kb_app, name="kb", rich_help_panel=OPERATE)
    built.command("init", rich_help_panel=CONFIGURE)(setup.init)
    built.command("check", rich_help_panel=CONFIGURE)(setup.check)
    built.add_typer(setup.config_app, name="config", rich_help_panel=CONFIGURE)
    built.add_typer(users.user_app, name="user", rich_help_panel=CONFIGURE)
    built.add_typer(users.token_app, name="token", rich_help_panel=CONFIGURE)
    return built


_built: list[typer.Typer] = []


def __getattr__(name: str) -> Any:  # PEP 562: ``from opsroom.cli import app`` builds it once
    if name == "app":
        if not _built:
            _built.append(build_app())
        return _built[0]
    raise AttributeError(f"module 'opsroom.cli' has no attribute {name!r}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # ``opsroom run …``: nothing before the command name, so the group's own options (--version,
    # --help, completion) are not being asked for and the one-command group parses it the same.
    build_app(only_run=sys.argv[1:2] == ["run"])()
