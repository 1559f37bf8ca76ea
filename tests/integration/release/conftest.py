"""Shared helpers for the packaging tests: free ports and waiting for /healthz."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> dict[str, str]:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return dict(answer.json())
        except httpx.HTTPError:
            pass
        assert process.poll() is None, f"server exited {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no answer from {url}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
