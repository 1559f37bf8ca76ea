"""`opsroom run` says it is ready in one human line at a terminal (JSON lines otherwise), and
`opsroom reload` waits for the running server's verdict and prints it: what changed, or the
refusal with file:line, with an exit code a script can test. Real server processes."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.cli.terminal import Terminal
from tests.support.served import wait_healthy
from tests.support.system import demo_data_elsewhere

OPSROOM = str(Path(sys.executable).with_name("opsroom"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(folder: Path) -> tuple[Path, dict[str, Any]]:
    data = demo_data_elsewhere()
    data["database"] = {"url": f"sqlite:///{folder / 'opsroom.db'}"}
    path = folder / "opsroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def reload(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSROOM, "reload", "--config", str(config), *extra], capture_output=True, text=True, timeout=90
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any], Path]]:
    """`opsroom run` with stderr to a file (not a terminal): its config, data and log."""
    config, data = _config(tmp_path)
    port = _free_port()
    log = tmp_path / "opsroom.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [OPSROOM, "run", "--config", str(config), "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield config, data, log
    finally:
        process.terminate()
        process.wait(15)


def test_reload_prints_the_servers_verdict(server: tuple[Path, dict[str, Any], Path]) -> None:
    config, data, log = server
    same = reload(config)
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip() == "✓ reloaded: no changes"

    more = copy.deepcopy(data)
    more["commands"]["hello"] = {
        "summary": "Say hello",
        "read_only": True,
        "runner": {"type": "exec", "argv": ["echo", "hello"]},
    }
    more["commands"]["status"]["summary"] = "Versions and replicas, per environment"
    config.write_text(yaml.safe_dump(more))
    changed = reload(config)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == ("✓ reloaded: 2 commands changed (added: hello; changed: status)")

    text = config.read_text().replace("server:\n", "server:\n  prot: 8080\n", 1)
    config.write_text(text)
    line = text.splitlines().index("  prot: 8080") + 1
    refused = reload(config)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "reload refused; the running configuration is kept" in refused.stderr
    assert f"{config}:{line}: server.prot: unknown key" in refused.stderr  # the server's own words

    lines = log.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # not a terminal: every line is JSON
    assert [e["event"] for e in events if "reload" in e["event"]] == [
        "configuration reloaded",
        "configuration reloaded",
        "reload refused; keeping the running configuration",
    ]
    asks = config.parent / ".opsroom-reloads"
    assert not list(asks.iterdir()), "every ask was answered and cleared"
    assert asks.stat().st_mode & 0o777 == 0o700, "only the server's user may ask or read a verdict"


def test_reload_says_when_no_server_runs_or_none_answers(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    nobody = reload(config)
    assert nobody.returncode == 1
    assert "no running opsroom found" in nobody.stderr and "opsroom run" in nobody.stderr

    # A live process recorded as the server that never answers (it ignores SIGHUP).
    deaf = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(60)"]
    )
    try:
        time.sleep(0.3)
        (tmp_path / ".opsroom-server.json").write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": deaf.pid}))
        silent = reload(config, "--timeout", "1")
    finally:
        deaf.kill()
        deaf.wait(5)
    assert silent.returncode == 1
    assert f"opsroom (pid {deaf.pid}) did not answer within 1s" in silent.stderr


def test_run_at_a_terminal_says_ready_in_one_line_and_shows_reloads(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    port = _free_port()
    term = Terminal(  # wide enough that the line is not wrapped
        [OPSROOM, "run", "--config", str(config), "--port", str(port)], cwd=tmp_path, env={}, columns=400
    )
    try:
        term.read_until(lambda raw: b"ready on" in raw and raw.endswith(b"\n"))
        assert reload(config).returncode == 0
        term.read_until(lambda raw: b"reloaded:" in raw)
        os.killpg(term.process.pid, signal.SIGTERM)
        term.process.wait(15)
        screen = term.screen()
    finally:
        term.close()
    assert len(screen) == 2, screen  # no migration, uvicorn or plugin lines at the default level
    assert re.fullmatch(
        rf"opsroom \(demo\) ready on http://127\.0\.0\.1:{port} — web chat /chat, console /console · "
        rf"database opsroom\.db · config {re.escape(str(config))} · \d+\.\ds",
        screen[0],
    ), screen
    assert screen[1] == "reloaded: no changes"


def test_run_logs_json_at_a_terminal_when_asked(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    port = _free_port()
    term = Terminal(
        [OPSROOM, "run", "--config", str(config), "--port", str(port)],
        cwd=tmp_path,
        env={"OPSROOM_LOG_FORMAT": "json"},
    )
    try:
        term.read_until(lambda raw: b"opsroom ready" in raw and raw.endswith(b"\n"))
    finally:
        term.close()
    lines = [line for line in term.raw.decode().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert len(events) > 5 and events[-1]["event"] == "opsroom ready"
    assert events[-1]["url"] == f"http://127.0.0.1:{port}"
