"""The ``opsroom`` command line: one typer app, one module per command group.

serve (``run``), reload, shell (+ exit_codes), setup (``init``, ``check``, ``config``),
audit, policy, db, kb, users (``user``, ``token``), demo; common holds the shared options."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from opsroom.cli import audit, db, demo, kb, policy, reload, serve, setup, shell, users
from opsroom.cli.common import console

app = typer.Typer(
    name="opsroom",
    help="Self-hosted ChatOps: commands, approvals, alerts and a tamper-evident audit trail in your team's chat.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

SERVE, TRY, OPERATE, CONFIGURE = "Run the server", "Try it", "Operate", "Configure"

app.command("run", rich_help_panel=SERVE)(serve.run)
app.command("reload", rich_help_panel=SERVE)(reload.reload)
app.add_typer(db.db_app, name="db", rich_help_panel=SERVE)
app.command("shell", rich_help_panel=TRY)(shell.shell)
app.add_typer(demo.demo_app, name="demo", rich_help_panel=TRY)
app.add_typer(audit.audit_app, name="audit", rich_help_panel=OPERATE)
app.add_typer(policy.policy_app, name="policy", rich_help_panel=OPERATE)
app.add_typer(kb.kb_app, name="kb", rich_help_panel=OPERATE)
app.command("init", rich_help_panel=CONFIGURE)(setup.init)
app.command("check", rich_help_panel=CONFIGURE)(setup.check)
app.add_typer(setup.config_app, name="config", rich_help_panel=CONFIGURE)
app.add_typer(users.user_app, name="user", rich_help_panel=CONFIGURE)
app.add_typer(users.token_app, name="token", rich_help_panel=CONFIGURE)


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
    """opsroom runs operations work inside the chat your team already uses.

    Start with [bold]opsroom run[/] (the bundled demo when there is no opsroom.yaml here) and open
    the web chat, or [bold]opsroom shell --user alice[/] to try commands in this terminal."""


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
