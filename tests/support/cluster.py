"""Several `opsroom run` processes on one PostgreSQL schema (cluster mode), as an operator
runs them: a replica process, and waiting for what it shows."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.served import wait_healthy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, config: Path, tmp_path: Path, name: str, speed: str, *, wait: bool = True) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"{name}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "opsroom.cli", "run", "--config", str(config), "--port", str(self.port)],
                cwd=tmp_path,
                env=dict(os.environ, OPSROOM_DEMO_SPEED=speed),
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_healthy(self.base, self.process, self.log)

    @classmethod
    def start_all(cls, config: Path, tmp_path: Path, names: str, speed: str) -> list[Replica]:
        """Several replicas started together (one start-up's wait, not one per replica)."""
        started = [cls(config, tmp_path, name, speed, wait=False) for name in names]
        for replica in started:
            replica.wait_ready()
        return started

    def sign_in(self, user: str, channel: str) -> tuple[str, str]:
        """A browser session of ``user`` with ``channel`` open: its cookie and CSRF token."""
        with httpx.Client(base_url=self.base, timeout=10) as http:
            page = http.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            assert http.post("/login", data={"username": user, "csrf": csrf}).status_code == 303
            chat = http.get(f"/chat/{channel}")
            token = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]
            return "; ".join(f"{k}={v}" for k, v in http.cookies.items()), token

    def say(self, user: str, channel: str, text: str, session: tuple[str, str] | None = None) -> int:
        """Post as ``user`` through this replica; the stored message's id."""
        cookie, token = session or self.sign_in(user, channel)
        headers = {"X-CSRF-Token": token, "Cookie": cookie}
        posted = httpx.post(f"{self.base}/chat/{channel}/messages", json={"text": text}, headers=headers, timeout=10)
        assert posted.status_code in (201, 202), posted.text
        return int(posted.json()["id"])

    def ws_url(self, channel: str) -> str:
        return self.base.replace("http://", "ws://") + f"/chat/ws?channel={channel}"

    def leads(self, name: str = "sweeper") -> bool:
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        return f'opsroom_leader{{name="{name}"}} 1.0' in text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def wait_for(what: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s")


class FakeInThread:
    """A vendor fake (an ASGI app) served on its own event loop in a thread, so a test that
    drives replica processes with blocking calls never stalls it. ``call`` runs one of the
    fake's coroutines (``fake.user_posts``) on that loop."""

    def __init__(self, app: Any) -> None:
        import asyncio
        import threading

        from tests.fakes.chat_server import serve

        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.url = ""
        ready = threading.Event()

        async def main() -> None:
            async with serve(app) as url:
                self.url = url
                ready.set()
                await self._stop.wait()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(main(),), daemon=True)
        self.thread.start()
        assert ready.wait(15), "the fake did not start"

    def call(self, coro: Any, timeout: float = 10) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
