"""The demo's pretend inventory: services, versions and replicas per environment, in a JSON
file the demo commands read and change (with a file lock, since runs may overlap)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

DEFAULT_PATH = Path(".opsroom") / "demo-inventory.json"
ENVIRONMENTS = ("dev", "staging", "production")


def path() -> Path:
    return Path(os.environ.get("OPSROOM_DEMO_INVENTORY", str(DEFAULT_PATH)))


def seed() -> dict[str, Any]:
    def svc(versions: dict[str, str], replicas: dict[str, int]) -> dict[str, Any]:
        return {
            env: {"version": versions[env], "replicas": replicas[env], "status": "healthy", "history": [versions[env]]}
            for env in ENVIRONMENTS
        }

    services = {
        "payments": svc(
            {"dev": "v4.13.1", "staging": "v4.13.0", "production": "v4.13.0"}, {"dev": 1, "staging": 2, "production": 4}
        ),
        "api-gateway": svc(
            {"dev": "v2.8.0", "staging": "v2.7.4", "production": "v2.7.4"}, {"dev": 1, "staging": 2, "production": 6}
        ),
        "checkout": svc(
            {"dev": "v1.19.2", "staging": "v1.19.0", "production": "v1.18.7"}, {"dev": 1, "staging": 2, "production": 3}
        ),
    }
    # payments in production came from v4.12.3: that is where a rollback goes.
    services["payments"]["production"]["history"] = ["v4.12.3", "v4.13.0"]
    services["checkout"]["production"]["history"] = ["v1.18.5", "v1.18.7"]
    return {"services": services}


def ensure(at: Path | None = None) -> Path:
    target = at or path()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # A file of this process's own: two servers started in one folder at once (replicas)
        # each write the seed and move it into place; with one shared name the second found
        # its file moved away by the first and failed to start.
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(seed(), indent=2))
        tmp.replace(target)
    return target


@contextlib.contextmanager
def locked() -> Iterator[dict[str, Any]]:
    """Read-modify-write the inventory under an exclusive lock."""
    target = ensure()
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(target.read_text())
        yield data
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(target)


def read() -> dict[str, Any]:
    return json.loads(ensure().read_text())  # type: ignore[no-any-return]
