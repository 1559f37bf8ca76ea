"""``opsroom user …`` and ``opsroom token …``: web sign-in passwords and personal API tokens.

Passwords go into opsroom.yaml itself, as ``users.<name>.password_hash`` (argon2id), edited
in place so the file's comments and layout stay as they were; a running server picks them up
on ``opsroom reload`` / SIGHUP. Tokens live in the database, as a SHA-256 hash only: the
token is printed once, when it is created.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from opsroom.cli.common import lazy_console

user_app = typer.Typer(
    help="Web sign-in: add users, set passwords (argon2 hashes in opsroom.yaml).", no_args_is_help=True
)
token_app = typer.Typer(
    help="Personal API tokens for the JSON API (stored hashed in the database).", no_args_is_help=True
)

console = lazy_console()
err = lazy_console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="opsroom.yaml to change (default: ./opsroom.yaml).", dir_okay=False),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--database", envvar="OPSROOM_DATABASE_URL", help="Database URL, overriding the config's."),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (for scripts) instead of prompting."),
]


def _config_file(config: Path | None) -> Path:
    path = config or Path("opsroom.yaml")
    if not path.is_file():
        err.print(
            f"[red]{path} does not exist.[/] Users live in your opsroom.yaml: create one with "
            "`opsroom init`, or pass --config FILE."
        )
        raise typer.Exit(2)
    return path


def _read_password(from_stdin: bool) -> str:
    from opsroom.web.passwords import MIN_LENGTH, hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        return hash_password(password)
    except ValueError:
        err.print(f"[red]The password is too short[/]: use at least {MIN_LENGTH} characters.")
        raise typer.Exit(2) from None


def _edit_users(path: Path, change: Any) -> None:
    """Load with ruamel (comments kept), let ``change(users)`` edit the users mapping,
    validate the result like a real load, and only then write it back."""
    from io import StringIO

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from opsroom.config.loader import validate
    from opsroom.core import ConfigError

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a hash onto the next line
    data = yaml.load(path.read_text(encoding="utf-8")) or CommentedMap()
    if data.get("users") is None:
        data["users"] = CommentedMap()
    change(data["users"])
    buffer = StringIO()
    yaml.dump(data, buffer)
    text = buffer.getvalue()
    import yaml as pyyaml

    try:
        validate(pyyaml.safe_load(text), str(path))
    except ConfigError as exc:
        err.print(f"[red]Not written: the result would not be a valid config[/]\n{exc}")
        raise typer.Exit(2) from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name, as used in policies (e.g. alice).")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="A role; repeat for several.")] = [],  # noqa: B006
    display_name: Annotated[str, typer.Option(help="Name shown in chat.")] = "",
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Add without a password (API tokens only).")
    ] = False,
    password_stdin: PasswordStdin = False,
    config: ConfigOpt = None,
) -> None:
    """Add a user to opsroom.yaml, with a password for the web chat."""
    import re

    from ruamel.yaml.comments import CommentedMap

    if not re.fullmatch(r"[a-z][a-z0-9._-]{0,62}", name):
        err.print("[red]A user name is lower-case letters, digits, '.', '_' or '-', starting with a letter.[/]")
        raise typer.Exit(2)
    path = _config_file(config)
    hashed = "" if no_password else _read_password(password_stdin)

    def change(users: Any) -> None:
        if name in users:
            err.print(
                f"[red]{name} already exists in {path}[/]; use `opsroom user passwd {name}` to change the password."
            )
            raise typer.Exit(1)
        entry = CommentedMap()
        if display_name:
            entry["display_name"] = display_name
        entry["roles"] = list(role)
        if hashed:
            entry["password_hash"] = hashed
        users[name] = entry

    _edit_users(path, change)
    console.print(
        f"Added {name} ({', '.join(role) or 'no roles'}) to {path}. "
        "A running opsroom picks it up on `opsroom reload` (or SIGHUP)."
    )


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="An existing user.")],
    password_stdin: PasswordStdin = False,
    config: ConfigOpt = None,
) -> None:
    """Set or change a user's web chat password."""
    path = _config_file(config)
    hashed = _read_password(password_stdin)

    def change(users: Any) -> None:
        if name not in users:
            err.print(f"[red]There is no user {name} in {path}[/]; add one with `opsroom user add {name}`.")
            raise typer.Exit(1)
        from ruamel.yaml.comments import CommentedMap

        if users[name] is None:
            users[name] = CommentedMap()
        users[name]["password_hash"] = hashed

    _edit_users(path, change)
    console.print(f"Password of {name} set in {path}.")


def _database(config: Path | None, database: str | None) -> tuple[Any, Any]:
    from opsroom.config.loader import load_or_demo
    from opsroom.core import ConfigError
    from opsroom.store import Database
    from opsroom.store.state import resolve_sqlite

    try:
        loaded = load_or_demo(config)
    except ConfigError as exc:
        err.print(f"[red]Configuration error[/]\n{exc}")
        raise typer.Exit(2) from None
    url = resolve_sqlite(database or loaded.config.database.url, loaded.base_dir)
    return loaded, Database.open(url)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", "-u", help="Whose token: calls act as this user.")],
    name: Annotated[str, typer.Option(help="What the token is for (shown in `token list`).")] = "",
    days: Annotated[float | None, typer.Option(help="Expire after this many days (default: never).")] = None,
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Create a personal API token. It is printed once; only its hash is stored."""
    from opsroom.audit import AuditLog
    from opsroom.web.sessions import create_token

    loaded, db = _database(config, database)
    if user not in loaded.config.users:
        err.print(f"[red]There is no user {user} in the config[/] ({loaded.source}).")
        raise typer.Exit(1)
    token, token_id = create_token(db, user, name, days=days)
    with db.begin() as conn:
        AuditLog(db).append(
            conn,
            actor=user,
            action="token.created",
            platform="api",
            summary=f"API token #{token_id} created for {user}" + (f" ({name})" if name else ""),
            detail={"token_id": token_id, "prefix": token[:10], "days": days},
        )
    db.dispose()
    err.print(f"Token #{token_id} for {user} — shown only now, keep it somewhere safe:")
    print(token)


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's tokens.")] = None,
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """List tokens (never the tokens themselves: they are not stored)."""
    from rich.table import Table

    from opsroom.web.sessions import list_tokens

    _, db = _database(config, database)
    table = Table("id", "user", "name", "starts with", "created", "last used", "state")
    for t in list_tokens(db, user):
        state = "revoked" if t.revoked else (f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "active")
        table.add_row(
            str(t.id),
            t.user,
            t.name,
            t.prefix + "…",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            state,
        )
    db.dispose()
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id, from `opsroom token list`.")],
    config: ConfigOpt = None,
    database: DbOpt = None,
) -> None:
    """Revoke a token: calls with it are refused from now on."""
    from opsroom.audit import AuditLog
    from opsroom.web.sessions import revoke_token

    _, db = _database(config, database)
    if not revoke_token(db, token_id):
        err.print(f"[red]There is no token #{token_id}.[/]")
        raise typer.Exit(1)
    with db.begin() as conn:
        AuditLog(db).append(
            conn,
            actor="cli",
            action="token.revoked",
            platform="api",
            summary=f"API token #{token_id} revoked",
            detail={"token_id": token_id},
        )
    db.dispose()
    console.print(f"Token #{token_id} revoked.")
