"""`opsroom run`, started as people start it (the console script), runs its server under
`python -OO` (no docstrings in memory: opsroom.lean_imports_oo) and everything a person does
still works: the web chat answers a command and a run with progress, a reload, a clean stop.
`OPSROOM_OPTIMIZE=0` keeps the plain interpreter; `opsroom run --help` still shows its text."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
import yaml
from tests.support.served import wait_healthy
from tests.support.system import demo_data_elsewhere

OPSROOM = str(Path(sys.executable).with_name("opsroom"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPSROOM_OPTIMIZE", "PYTHONDONTWRITEBYTECODE")}
    # As an installed opsroom runs: bytecode may be written (pip's install folder is the user's).
    return dict(env, OPSROOM_DEMO_SPEED="0.01", **extra)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def run(**extra: str) -> tuple[str, subprocess.Popen[bytes], Path]:
        data = demo_data_elsewhere()
        data["database"] = {"url": f"sqlite:///{tmp_path / 'opsroom.db'}"}
        config = tmp_path / "opsroom.yaml"
        config.write_text(yaml.safe_dump(data))
        port = _free_port()
        log = tmp_path / f"opsroom-{len(started)}.log"
        with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
            process = subprocess.Popen(
                [OPSROOM, "run", "--config", str(config), "--port", str(port)],
                cwd=tmp_path,
                env=_env(**extra),
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process, log, seconds=120)  # a first start may compile the -OO bytecode
        return base, process, log

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def _flags(pid: int) -> list[str]:
    """The server process's interpreter options: its command line up to the script or -m."""
    words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return [w for w in words[1:3] if w.startswith("-") and w != "-m"]


async def test_opsroom_run_serves_the_web_chat_under_OO(start) -> None:  # type: ignore[no-untyped-def]
    base, process, log = start()
    assert _flags(process.pid) == ["-OO"], "the same process (pid) now runs under -OO"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        page = await http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert (await http.post("/login", data={"username": "alice", "csrf": token})).status_code == 303
        chat = await http.get("/chat/dm:alice")
        csrf = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        url = base.replace("http://", "ws://") + "/chat/ws?channel=dm:alice"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            for text in ("whoami", "deploy api-gateway staging"):
                posted = await http.post("/chat/dm:alice/messages", json={"text": text}, headers={"X-CSRF-Token": csrf})
                assert posted.status_code == 202, posted.text

            async def bot_says(words: str) -> str:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    if " bot" in event.get("html", "")[:80] and words in event["html"]:
                        return str(event["html"])

            assert "alice" in await bot_says("alice")
            await bot_says("succeeded")  # a run with progress, edited live until it is done
            posted = await http.post("/chat/dm:alice/messages", json={"text": "help"}, headers={"X-CSRF-Token": csrf})
            assert posted.status_code == 202, posted.text
            assert "restart" in await bot_says("deploy")  # help lists the commands
        for page in ("/console", "/api/openapi.json", "/metrics"):  # no server error under -OO
            assert (await http.get(page)).status_code < 500, page
        process.send_signal(signal.SIGHUP)  # `opsroom reload`
        await asyncio.sleep(0.5)
        assert (await http.get("/healthz")).status_code == 200
    process.terminate()
    assert process.wait(15) in (0, -signal.SIGTERM)
    said = log.read_text()
    assert "configuration reloaded" in said and "Application shutdown complete" in said
    assert "Traceback" not in said


def test_OPSROOM_OPTIMIZE_0_keeps_the_plain_interpreter(start) -> None:  # type: ignore[no-untyped-def]
    _, process, _ = start(OPSROOM_OPTIMIZE="0")
    assert _flags(process.pid) == []


def test_run_help_still_shows_its_text() -> None:
    out = subprocess.run([OPSROOM, "run", "--help"], capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode == 0, out.stderr
    assert "Start opsroom: chat adapters" in out.stdout
