"""``opsroom reload``: ask the running server to re-read its config, and wait for its verdict.

The ask is a file and a signal, both local: ``opsroom reload`` leaves ``<id>.asked`` in the
server's state folder (``.opsroom-reloads/``, 0700; the files 0600) and sends SIGHUP to the pid
the server recorded there; the server reloads and writes ``<id>.json`` (its verdict) beside it.
Only someone who may write the server's state folder and signal its process — its own user, or
root — can ask or read an answer; nothing listens on the network for it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from opsroom.cli.common import ConfigOpt, DbOpt, console, err, escape, state_folder

FOLDER = ".opsroom-reloads"
STALE_SECONDS = 600  # an ask nobody answered (its server died): removed by the next reload


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # what changed, or why the new config was refused (file:line: key: reason)

    def sentence(self) -> str:
        if self.ok:
            return f"reloaded: {self.text}"
        return f"reload refused; the running configuration is kept:\n{self.text}"


def inbox(state: Path) -> Path:
    """The folder of asks and verdicts; the server makes it at start, so it owns it even when
    root is the one asking."""
    folder = state / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def pending(state: Path) -> list[str]:
    """The ids of the asks waiting now (the server calls this before it reloads)."""
    folder = state / FOLDER
    if not folder.is_dir():
        return []
    now = time.time()
    found = []
    for path in folder.glob("*.asked"):
        try:
            if now - path.stat().st_mtime > STALE_SECONDS:
                path.unlink(missing_ok=True)
                continue
        except OSError:
            continue
        found.append(path.stem)
    return found


def answer(state: Path, ask: str, verdict: Verdict) -> None:
    """Write the verdict for one ask, whole (a temporary file renamed), then drop the ask."""
    folder = inbox(state)
    temporary = folder / f"{ask}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"ok": verdict.ok, "text": verdict.text}, out)
    temporary.replace(folder / f"{ask}.json")
    (folder / f"{ask}.asked").unlink(missing_ok=True)


def ask(state: Path, pid: int, timeout: float, poll: float = 0.05) -> Verdict | None:
    """Ask the server ``pid`` to reload and wait for its verdict; None after ``timeout`` seconds."""
    folder = inbox(state)
    ask_id = secrets.token_hex(8)
    asked = folder / f"{ask_id}.asked"
    os.close(os.open(asked, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    answered = folder / f"{ask_id}.json"
    try:
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answered.exists():
                found = json.loads(answered.read_text(encoding="utf-8"))
                return Verdict(ok=bool(found["ok"]), text=str(found["text"]))
            time.sleep(poll)
        return None
    finally:
        asked.unlink(missing_ok=True)
        answered.unlink(missing_ok=True)


def _where(config: Path | None, database: str | None) -> tuple[str, Path]:
    """The config's name and the running server's state folder — found even when the edited
    config no longer validates, so the server itself can say why it refuses it."""
    from opsroom.config.loader import load_or_demo, load_yaml
    from opsroom.config.models import DatabaseConfig
    from opsroom.core import ConfigError
    from opsroom.store.state import state_dir

    try:
        loaded = load_or_demo(config)
    except ConfigError:
        path = config or Path("opsroom.yaml")
        try:
            data = load_yaml(path)
            url = str(data["database"]["url"])
        except (ConfigError, OSError, KeyError, TypeError):
            url = DatabaseConfig().url
        url = database or os.environ.get("OPSROOM_DATABASE_URL") or url
        return str(path), state_dir(url, path.resolve().parent)
    return loaded.source, state_folder(loaded, database)


def reload(
    config: ConfigOpt = None,
    database: DbOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server's verdict.")] = 30.0,
) -> None:
    """Re-read the config of the running server and print its verdict.

    Prints what changed, or why the new config was refused (file:line), in which case the
    running configuration is kept. Exit 0 when reloaded, 1 when refused or when no server
    answers in time."""
    from opsroom.store.state import SERVER_FILE, running_pid

    source, state = _where(config, database)
    pid = running_pid(state)
    if pid is None:
        err.print(
            f"no running opsroom found for {source} "
            f"(no live server recorded in {state / SERVER_FILE}); start it with `opsroom run`"
        )
        raise typer.Exit(1)
    verdict = ask(state, pid, timeout)
    if verdict is None:
        err.print(
            f"opsroom (pid {pid}) did not answer within {timeout:g}s; "
            "its log says whether the new configuration was taken"
        )
        raise typer.Exit(1)
    if not verdict.ok:
        err.print(f"[red]✗[/] {escape(verdict.sentence())}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {escape(verdict.sentence())}", highlight=False)
