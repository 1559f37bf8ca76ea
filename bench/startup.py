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

With ``--fresh``, each start is on a new database (the quick start's `make run` on a new
machine, or a start after an upgrade): the schema is migrated before the server is ready, by a
child process since wave 12 (opsroom.store.migrate_apart), in the server's own process before.
It prints the peak RSS too: the highest VmRSS sampled until ready (every ≈ 10 ms), and VmHWM
(which includes argon2's 64 MiB for the dummy sign-in hash warmed just after ready); the CPU
counts the migration's child as well (the server's cutime/cstime once it has waited for it).
A separate run of the spawned migration child alone on a new database gives its own peak;
the module count is left out (a migration child's imports would be listed too).

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
    # utime, stime and the waited-for children's cutime, cstime (a migration child)
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _rss_parts(pid: int) -> dict[str, float]:
    parts: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fp:
        for line in fp:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
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
    folder: Path, port: int, *, profile_imports: bool = False, first_command: bool = False, fresh: bool = False
) -> tuple[float, float, int, float, tuple[float, float, float, float], tuple[float, float, float]]:
    """One start: (seconds to ready, idle RSS in MiB, modules imported when profiling, CPU
    seconds used until ready: steadier than wall time on a busy machine, and the idle RSS's
    anonymous and file-backed MiB: Python objects and heaps vs. mapped shared libraries)."""
    if fresh:
        for old in folder.glob("startup.db*"):
            old.unlink()
    env = dict(os.environ, OPSROOM_DATABASE_URL=f"sqlite:///{folder / 'startup.db'}")
    # Bytecode as an installed opsroom has it (pip compiles it at install; the first, untimed
    # start writes it here): with PYTHONDONTWRITEBYTECODE every start compiles ~250 modules.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [str(Path(sys.executable).with_name("opsroom")), "run", "--port", str(port)]
    if profile_imports:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    # A file, not a pipe: the import profile fills a pipe's buffer and blocks the server.
    errors = open(folder / "stderr.txt", "w+") if profile_imports else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    ready = cpu = float("nan")
    until_ready = 0.0  # the highest VmRSS seen until ready, sampled every ≈ 10 ms
    try:
        while time.perf_counter() - t0 < 30:
            try:
                until_ready = max(until_ready, _rss_parts(proc.pid).get("VmRSS", 0.0))
            except OSError:
                pass
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
    # From the last header: ``opsroom run`` replaces its first interpreter by one under -OO
    # (opsroom.lean_imports_oo), and each prints its own profile.
    lines = [line for line in err.splitlines() if line.startswith("import time:") and "|" in line]
    headers = [i for i, line in enumerate(lines) if "imported package" in line]
    modules = len(lines) - (headers[-1] if headers else 0)
    split = (parts.get("RssAnon", 0.0), parts.get("RssFile", 0.0), parts.get("VmHWM", 0.0), until_ready)
    return ready, rss, max(0, modules - 1), cpu, split, first  # modules: minus the header line


def migration_child(folder: Path) -> tuple[float, float]:
    """``python -m opsroom.store.migrate_child`` alone on a new database (the spawned child,
    where a fork is not used): (its peak RSS in MiB, seconds)."""
    for old in folder.glob("startup.db*"):
        old.unlink()
    request = {"url": f"sqlite:///{folder / 'startup.db'}", "engine_options": {}, "log_level": "warning", "json": True}
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsroom.store.migrate_child"], stdin=subprocess.PIPE, env=env, cwd=folder
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(request).encode())
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--first-command", action="store_true", help="time the first web chat command after each start")
    ap.add_argument("--fresh", action="store_true", help="each start on a new database (migrated at start)")
    args = ap.parse_args()
    port = 18080 + os.getpid() % 1000
    child: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start(folder, port)  # creates and migrates the database (and writes the bytecode)
        results = [start(folder, port, first_command=args.first_command, fresh=args.fresh) for _ in range(args.runs)]
        # Not with --fresh: a migration child's imports (forked or not) would be listed too.
        modules = 0 if args.fresh else start(folder, port, profile_imports=True)[2]
        if args.fresh:
            try:
                import opsroom.store.migrate_child  # noqa: F401
            except ImportError:  # a checkout from before wave 12: it migrates in process
                pass
            else:
                child = migration_child(folder)
    ready = statistics.median(r[0] for r in results)
    rss = statistics.median(r[1] for r in results)
    cpu = statistics.median(r[3] for r in results)
    anon = statistics.median(r[4][0] for r in results)
    files = statistics.median(r[4][1] for r in results)
    each = ", ".join(f"{r[0]:.2f}" for r in results)
    peak = statistics.median(r[4][2] for r in results)
    what = "new database each start" if args.fresh else f"{modules} modules imported"
    print(f"opsroom run (demo): ready {ready:.2f} s (CPU {cpu:.2f} s), idle RSS {rss:.0f} MiB, {what}")
    print(f"  median of {args.runs} starts; each: {each} s; load average {os.getloadavg()[0]:.1f}")
    rss_each = ", ".join(f"{r[1]:.2f}" for r in results)
    print(f"  idle RSS {rss:.2f} MiB (anonymous {anon:.2f}, files {files:.2f}); each: {rss_each}")
    peak_each = ", ".join(f"{r[4][2]:.2f}" for r in results)
    sampled = statistics.median(r[4][3] for r in results)
    sampled_each = ", ".join(f"{r[4][3]:.2f}" for r in results)
    print(f"  peak RSS until ready (sampled every 10 ms) {sampled:.2f} MiB; each: {sampled_each}")
    print(f"  peak RSS (VmHWM, with the sign-in hash warmed after ready) {peak:.2f} MiB; each: {peak_each}")
    if child is not None:
        print(f"  a spawned migration child alone, new database: peak RSS {child[0]:.2f} MiB, {child[1]:.2f} s")
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
