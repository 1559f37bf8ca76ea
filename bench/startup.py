"""`opsroom run` (the bundled demo) start-up: seconds until /healthz answers, idle RSS, modules.

    .venv/bin/python bench/startup.py              # median of 5 starts
    .venv/bin/python bench/startup.py --runs 9

Each start runs `opsroom run --port P` in an empty folder on an SQLite database that a first,
untimed start created and migrated (a restart is what "ready" means day to day), with Python's
bytecode cache on (as for an installed opsroom, even when PYTHONDONTWRITEBYTECODE is set). Ready = from
spawning the process to the first 200 from /healthz; RSS = VmRSS one second later, idle (also
split into anonymous memory and mapped files, RssAnon / RssFile).
Modules = how many modules one more start has imported one second after it is ready
(PYTHONPROFILEIMPORTTIME, untimed: the profiling itself slows imports).

With ``--first-command``, each start then signs alice in to the web chat, opens its WebSocket,
posts ``whoami`` and waits for the bot's answer: the first command's time (from opening the
WebSocket to the answer, as a person opening the chat page sees it; what a server imports on
first use is paid here), a second command's for comparison, and the RSS after them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fp:
        fields = fp.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_parts(pid: int) -> dict[str, float]:
    parts: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fp:
        for line in fp:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                parts[key] = int(value.split()[0]) / 1024
    return parts


async def _two_commands(port: int) -> tuple[float, float]:
    """Seconds from opening the web chat's WebSocket to the bot's answer to ``whoami``, for the
    first command after start and for a second one."""
    import httpx
    import websockets

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        page = await http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        await http.post("/login", data={"username": "alice", "csrf": token})
        chat = await http.get("/chat/dm:alice")
        csrf = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            url = f"ws://127.0.0.1:{port}/chat/ws?channel=dm:alice"
            async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
                posted = await http.post(
                    "/chat/dm:alice/messages", json={"text": "whoami"}, headers={"X-CSRF-Token": csrf}
                )
                posted.raise_for_status()
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if event.get("type") == "message" and " bot" in event.get("html", "")[:80]:
                        break
            times.append(time.perf_counter() - t0)
    return times[0], times[1]


def start(
    folder: Path, port: int, *, profile_imports: bool = False, first_command: bool = False
) -> tuple[float, float, int, float, tuple[float, float], tuple[float, float, float]]:
    """One start: (seconds to ready, idle RSS in MiB, modules imported when profiling, CPU
    seconds used until ready: steadier than wall time on a busy machine, and the idle RSS's
    anonymous and file-backed MiB: Python objects and heaps vs. mapped shared libraries)."""
    env = dict(os.environ, OPSROOM_DATABASE_URL=f"sqlite:///{folder / 'startup.db'}")
    # Bytecode as an installed opsroom has it (pip compiles it at install; the first, untimed
    # start writes it here): with PYTHONDONTWRITEBYTECODE every start compiles ~250 modules.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if profile_imports:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    exe = Path(sys.executable).with_name("opsroom")
    # A file, not a pipe: the import profile fills a pipe's buffer and blocks the server.
    errors = open(folder / "stderr.txt", "w+") if profile_imports else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "run", "--port", str(port)], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=errors
    )
    ready = cpu = float("nan")
    try:
        while time.perf_counter() - t0 < 30:
            if _healthy(port):
                ready = time.perf_counter() - t0
                cpu = _cpu_seconds(proc.pid)
                break
            time.sleep(0.01)
        time.sleep(1.0)
        parts = _rss_parts(proc.pid)
        rss = parts.get("VmRSS", 0.0)
        first = (float("nan"),) * 3
        if first_command:
            one, two = asyncio.run(_two_commands(port))
            first = (one, two, _rss_parts(proc.pid).get("VmRSS", 0.0))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = ""
    if not isinstance(errors, int):
        errors.seek(0)
        err = errors.read()
        errors.close()
    modules = sum(1 for line in err.splitlines() if line.startswith("import time:") and "|" in line)
    split = (parts.get("RssAnon", 0.0), parts.get("RssFile", 0.0))
    return ready, rss, max(0, modules - 1), cpu, split, first  # modules: minus the header line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--first-command", action="store_true", help="time the first web chat command after each start")
    args = ap.parse_args()
    port = 18080 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start(folder, port)  # creates and migrates the database
        results = [start(folder, port, first_command=args.first_command) for _ in range(args.runs)]
        modules = start(folder, port, profile_imports=True)[2]
    ready = statistics.median(r[0] for r in results)
    rss = statistics.median(r[1] for r in results)
    cpu = statistics.median(r[3] for r in results)
    anon = statistics.median(r[4][0] for r in results)
    files = statistics.median(r[4][1] for r in results)
    each = ", ".join(f"{r[0]:.2f}" for r in results)
    print(
        f"opsroom run (demo): ready {ready:.2f} s (CPU {cpu:.2f} s), idle RSS {rss:.0f} MiB, {modules} modules imported"
    )
    print(f"  median of {args.runs} starts; each: {each} s; load average {os.getloadavg()[0]:.1f}")
    rss_each = ", ".join(f"{r[1]:.2f}" for r in results)
    print(f"  idle RSS {rss:.2f} MiB (anonymous {anon:.2f}, files {files:.2f}); each: {rss_each}")
    if args.first_command:
        first = statistics.median(r[5][0] for r in results) * 1000
        second = statistics.median(r[5][1] for r in results) * 1000
        after = statistics.median(r[5][2] for r in results)
        each = ", ".join(f"{r[5][0] * 1000:.0f}/{r[5][1] * 1000:.0f}" for r in results)
        print(
            f"  web chat whoami, WebSocket opened to answer: first {first:.0f} ms, second {second:.0f} ms "
            f"(each {each}); RSS after them {after:.2f} MiB"
        )


if __name__ == "__main__":
    main()
