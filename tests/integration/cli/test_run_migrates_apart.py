"""`opsroom run` on a database whose schema is behind (the quick start's new database, or any
start after an upgrade) migrates it in a child process: the server answers as before, shows
the migration's log lines as before, and keeps nothing of Alembic; a migration that fails
stops the start with one sentence and exit 1; replicas starting together migrate once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from tests.support.served import wait_healthy
from tests.support.system import demo_data_elsewhere

from opsroom.store.migrate import current_revisions, script_heads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, db_url: str) -> Path:
    data = demo_data_elsewhere()
    data["database"] = {"url": db_url}
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


# `python -m opsroom.cli run …`; when the server process exits (Ctrl-C), the names of every
# module it had imported go to the file named by argv[1]. A migration child (forked: it ends
# with os._exit, which runs no atexit function; or spawned) writes none.
LISTS_MODULES = """
import atexit, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "opsroom"
runpy.run_module("opsroom.cli", run_name="__main__", alter_sys=True)
"""


def _start(config: Path, log: Path, *python: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(
            [sys.executable, *(python or ("-m", "opsroom.cli"))]
            + ["run", "--config", str(config), "--port", str(port)],
            cwd=config.parent,
            env=dict(os.environ, OPSROOM_LOG_FORMAT="json", OPSROOM_LOG_LEVEL="info"),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _at_heads(db_url: str) -> bool:
    engine = create_engine(db_url)
    try:
        return current_revisions(engine) == script_heads()
    finally:
        engine.dispose()


def test_a_fresh_database_is_migrated_apart_and_the_server_never_imports_alembic(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'opsroom.db'}"
    config, log = _config(tmp_path, db_url), tmp_path / "opsroom.log"
    modules = tmp_path / "modules.txt"
    process, base = _start(config, log, "-c", LISTS_MODULES, str(modules))
    try:
        wait_healthy(base, process, log)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        # Ctrl-C: uvicorn stops, then raises SIGINT again, which unwinds (atexit runs);
        # SIGTERM would end the process at once.
        process.send_signal(signal.SIGINT)
        process.wait(15)
    finally:
        _stop(process)
    text = log.read_text()
    assert modules.exists(), text[-2000:]
    imported = modules.read_text().split()
    assert "uvicorn.server" in imported and "sqlalchemy" in imported  # the server's own list
    assert not [name for name in imported if name.split(".")[0] == "alembic"]
    assert not [name for name in imported if name.startswith("opsroom.store.migrations")]
    # The migration ran, and its lines are on the server's stderr as they were in process.
    assert "Running upgrade  -> 0001_initial" in text
    assert _at_heads(db_url)

    # A second start finds the schema current: no child, no migration lines.
    log2 = tmp_path / "second.log"
    process, base = _start(config, log2)
    try:
        wait_healthy(base, process, log2)
    finally:
        _stop(process)
    assert "Running upgrade" not in log2.read_text()


def _run_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsroom.cli", "run", "--config", str(config), "--port", str(_free_port())],
        cwd=config.parent,
        env=dict(os.environ, OPSROOM_LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_database_from_a_newer_opsroom_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "opsroom.db"
    config = _config(tmp_path, f"sqlite:///{path}")
    process, base = _start(config, tmp_path / "first.log")
    try:
        wait_healthy(base, process, tmp_path / "first.log")
    finally:
        _stop(process)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future' WHERE rowid = 1")

    done = _run_once(config)

    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("✗ the database could not be upgraded: the database is at revision '0099_from_the_future'")
    assert "Traceback" not in done.stderr and "│" not in done.stderr  # no traceback panel
    with sqlite3.connect(path) as conn:  # nothing was changed
        assert ("0099_from_the_future",) in conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_a_file_that_is_not_a_database_stops_the_start_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "opsroom.db"
    path.write_bytes(b"not a database, just some text that fills the first page of a file " * 20)
    done = _run_once(_config(tmp_path, f"sqlite:///{path}"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "✗ the database could not be upgraded: (sqlite3.DatabaseError) file is not a database"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_servers_starting_at_once_on_postgresql_migrate_once(db_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, db_url)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    started = [_start(config, log) for log in logs]
    try:
        for (process, base), log in zip(started, logs, strict=True):
            wait_healthy(base, process, log)
    finally:
        for process, _ in started:
            _stop(process)
    texts = [log.read_text() for log in logs]
    # Both children asked; one took the advisory lock and migrated, the other then found
    # nothing to do: each revision was applied once in all.
    assert sum(text.count("Running upgrade  -> 0001_initial") for text in texts) == 1, texts
    assert sum(text.count("-> 0002_guardrails") for text in texts) == 1
    assert _at_heads(db_url)
