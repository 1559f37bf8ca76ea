"""`opsroom run` as people start it: its own process, its own event loop (uvloop when
installed) and HTTP parser — a browser signs in, posts, gets the bot's answer live, the
server takes a reload and stops cleanly."""

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

from opsroom.web.serving import event_loop_factory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    data = demo_data_elsewhere()
    data["database"] = {"url": f"sqlite:///{tmp_path / 'opsroom.db'}"}
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    port = _free_port()
    log = tmp_path / "opsroom.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(
            [sys.executable, "-m", "opsroom.cli", "run", "--config", str(config), "--port", str(port)],
            cwd=tmp_path,
            env=dict(os.environ, OPSROOM_DEMO_SPEED="0.01"),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log, seconds=30)
        yield base, process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


async def sign_in_alice(http: httpx.AsyncClient) -> tuple[str, str]:
    """Alice signs in through the login form; her chat page's CSRF token and her cookies."""
    page = await http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (await http.post("/login", data={"username": "alice", "csrf": token})).status_code == 303
    chat = await http.get("/chat/dm:alice")
    csrf = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]
    return csrf, "; ".join(f"{k}={v}" for k, v in http.cookies.items())


async def test_opsroom_run_answers_a_browser_reloads_and_stops(
    served: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, process, log = served
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        csrf, cookie = await sign_in_alice(http)
        url = base.replace("http://", "ws://") + "/chat/ws?channel=dm:alice"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            for text in ("whoami", "deploy api-gateway staging"):
                posted = await http.post("/chat/dm:alice/messages", json={"text": text}, headers={"X-CSRF-Token": csrf})
                assert posted.status_code == 202, posted.text

            async def bot_says(words: str) -> dict[str, object]:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if " bot" in event.get("html", "")[:80] and words in event["html"]:
                        return event  # type: ignore[no-any-return]

            assert "alice" in str((await bot_says("alice"))["html"])
            await bot_says("succeeded")  # the progress message, edited live until it is done

        process.send_signal(signal.SIGHUP)  # `opsroom reload`: the loop's signal handler
        await asyncio.sleep(0.5)
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/chat/dm:alice")).status_code == 200, "still signed in after a reload"
    process.terminate()  # uvicorn shuts down gracefully, then re-raises the signal
    assert process.wait(15) in (0, -signal.SIGTERM)
    said = log.read_text()
    assert "configuration reloaded" in said and "Application shutdown complete" in said


async def test_two_browsers_open_the_live_chat_at_once_on_a_fresh_server(
    served: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    """The first WebSocket upgrades import the WebSocket protocol (opsroom.web.serving): two
    arriving together both connect and both see the bot's answer live."""
    base, _process, _log = served
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        csrf, cookie = await sign_in_alice(http)
        url = base.replace("http://", "ws://") + "/chat/ws?channel=dm:alice"
        first, second = await asyncio.gather(
            websockets.connect(url, additional_headers={"Cookie": cookie}),
            websockets.connect(url, additional_headers={"Cookie": cookie}),
        )
        async with first, second:
            posted = await http.post("/chat/dm:alice/messages", json={"text": "whoami"}, headers={"X-CSRF-Token": csrf})
            assert posted.status_code == 202, posted.text

            async def bot_says(ws: websockets.ClientConnection) -> str:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if " bot" in event.get("html", "")[:80] and "alice" in event["html"]:
                        return str(event["html"])

            answers = await asyncio.gather(bot_says(first), bot_says(second))
            assert answers[0] == answers[1]


def test_the_server_loop_is_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    loop = factory()
    try:
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_demo_alert_finds_the_running_server_on_its_port(
    served: tuple[str, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    base, _process, _log = served
    fired = subprocess.run(  # no --url: the server recorded where it listens (a non-default port)
        [sys.executable, "-m", "opsroom.cli", "demo", "alert", "--config", str(tmp_path / "opsroom.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fired.returncode == 0, fired.stderr
    assert base in fired.stdout + fired.stderr
