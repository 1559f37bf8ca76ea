"""A served `opsroom run` process in a test: wait until it answers /healthz."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_healthy(
    base: str, process: subprocess.Popen[bytes], log: Path, *, seconds: float = 60, interval: float = 0.1
) -> None:
    """Until ``base``/healthz answers 200; fails with the end of the server's ``log`` if the
    process ends first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(interval)
