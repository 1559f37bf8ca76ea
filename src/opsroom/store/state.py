"""Where opsroom keeps its files next to the database, and the key it signs with.

Relative SQLite paths are relative to the config file's folder (the working folder for the
demo); the state folder is the database file's folder (else the config's); the signing key is
``server.secret_key`` (OPSROOM_SECRET_KEY) or one generated once and kept there, so buttons
and sessions survive a restart."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def resolve_sqlite(url: str, base_dir: Path) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and rel != ":memory:" and not os.path.isabs(rel):
            return "sqlite:///" + str((base_dir / rel).resolve())
    return url


def state_dir(url: str, base_dir: Path) -> Path:
    if url.startswith("sqlite:///"):
        path = Path(resolve_sqlite(url, base_dir)[len("sqlite:///") :])
        if str(path) != ":memory:":
            return path.parent
    return base_dir


def secret_key(config: Any, folder: Path) -> bytes:
    """``config`` is an OpsroomConfig (typed loosely: the store layer does not import config)."""
    if config.server.secret_key:
        return str(config.server.secret_key).encode()
    path = folder / ".opsroom-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


SERVER_FILE = ".opsroom-server.json"


def record_server(folder: Path, url: str) -> Path:
    """Where a running ``opsroom run`` listens, for tools on this machine (``opsroom demo alert``)."""
    path = folder / SERVER_FILE
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return path


def _recorded(folder: Path) -> dict[str, Any] | None:
    """What the ``opsroom run`` recorded in ``folder`` wrote, if that process is still alive."""
    try:
        found = json.loads((folder / SERVER_FILE).read_text())
        os.kill(int(found["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def running_server(folder: Path) -> str | None:
    """The URL of the ``opsroom run`` recorded in ``folder``, if that process is still alive."""
    found = _recorded(folder)
    return str(found["url"]) if found and "url" in found else None


def running_pid(folder: Path) -> int | None:
    """The pid of the live ``opsroom run`` recorded in ``folder`` (``opsroom reload`` signals it)."""
    found = _recorded(folder)
    return int(found["pid"]) if found else None
