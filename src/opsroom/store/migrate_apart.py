"""A schema upgrade in a child process, so that the server that asked for it keeps nothing of it.

``opsroom run`` on a new database (the quick start) or after an upgrade of opsroom used to run
Alembic in the server process: Alembic, its migration scripts, SQLAlchemy's DDL compiler and
reflection then stayed imported for the life of the server (≈ 13 MiB of an idle demo server's
95 MiB; docs/performance.md, "Wave 12 — rss11"). Here the server checks cheaply whether the
schema is current (one query, the script files read as text: no Alembic), and only when it is
not it upgrades in a child process and waits for it: a fork of itself where it can (Linux, one
thread: only Alembic is left to import), else ``python -m opsroom.store.migrate_child`` (the
same interpreter, no shell):

- a spawned child gets its request (database URL, SQLite's synchronous setting, the log level
  and format) on stdin, never on its command line (a password in the URL stays out of ``ps``);
- the child logs through the same setup (``opsroom.logs``: inherited, or set up the same way)
  to the stderr it inherits, so its lines (Alembic's "Running upgrade …") appear where and as
  they did, in order;
- on failure the child says one sentence (a pipe, or stdout) and exits 1; the server raises
  :class:`MigrationFailed` with it, and ``opsroom run`` prints it and exits 1.

Replicas starting together still migrate once: each child takes the lock ``upgrade`` takes
(PostgreSQL's advisory lock, SQLite's write lock) and the second finds the schema current.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from opsroom.errors import OpsroomError


class MigrationFailed(OpsroomError):
    """The database could not be upgraded to this version's schema (the reason is the message)."""


def needs_upgrade(engine: Any) -> bool:
    from opsroom.store.migrate import current_revisions, script_heads

    return current_revisions(engine) != script_heads()


def upgrade_apart(url: str, *, engine: Any, engine_options: dict[str, Any] | None = None, how: str = "auto") -> bool:
    """Upgrade the database at ``url`` to the newest schema in a child process, if it is behind
    (``engine``, the caller's, is only asked which revisions the database has; its pooled
    connections are closed first). True when a child ran. Raises :class:`MigrationFailed` with
    the child's one-sentence reason.

    ``how``: "fork" (the child starts from this process's imports: only Alembic and the
    scripts are left to load, so a start that migrates is as quick as in process), "spawn"
    (a new interpreter: ≈ 0.6 s more CPU), or "auto": fork where the platform has it and this
    process runs one thread only (a fork copies no other thread, but any lock one of them
    holds, SQLite's included), else spawn."""
    if not needs_upgrade(engine):
        return False
    engine.dispose()  # no connection of the parent's is carried into the child
    if how == "auto":
        how = "fork" if _one_thread() else "spawn"
    if how == "fork":
        _forked(engine)
        return True
    from opsroom import logs

    level, as_json = logs.current_setup()
    request = {"url": url, "engine_options": engine_options or {}, "log_level": level, "json": as_json}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", "opsroom.store.migrate_child"],
        input=json.dumps(request),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = done.stdout.strip().splitlines()[-1:] or [f"the migration process ended with status {done.returncode}"]
        raise MigrationFailed(said[0])
    return True


def _one_thread() -> bool:
    """Linux, and this process runs one thread: Python's and native ones (a library's own
    thread pool) alike, as /proc counts them."""
    if sys.platform != "linux" or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _forked(engine: Any) -> None:
    """The upgrade in a forked child, on the caller's engine (its pool is empty: the child
    opens its own connections); its log lines go through the handlers it inherits, its reason
    for failing comes back on a pipe."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        code = 1
        try:
            code = run_upgrade(engine, lambda why: os.write(write_end, why.encode()))
        finally:
            logging.shutdown()  # flushes the handlers
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as said:
        why = said.read().decode(errors="replace").strip()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise MigrationFailed(why or f"the migration process ended with status {code}")


def run_upgrade(engine: Any, say: Callable[[str], object]) -> int:
    """In the child: upgrade; on failure ``say`` the reason and return 1."""
    from opsroom.store.migrate import upgrade

    try:
        try:
            upgrade(engine)
        finally:
            engine.dispose()
    except Exception as exc:  # every failure becomes one sentence for the server to show
        say(reason(exc))
        return 1
    return 0


def reason(exc: BaseException) -> str:
    """One sentence for a failed upgrade: what a person can act on, not a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("Can't locate revision identified by"):
        revision = text.split("by", 1)[1].strip()
        return (
            f"the database is at revision {revision}, which this version of opsroom does not know "
            "(it was upgraded by a newer opsroom?): run that version, or restore a backup"
        )
    return text
