"""Load test of the web chat: N signed-in clients posting commands over HTTP and reading the
bot's answers over their WebSocket, against a real `opsroom run` in its own process.

Reports commands/s (a command counts when the bot's first reply to it has arrived), the
WebSocket messages/s delivered, and p50/p95/p99 of the time from posting a command to the
bot's first reply arriving in the client's browser connection.

    .venv/bin/python bench/webchat.py --clients 200 --seconds 20
    .venv/bin/python bench/webchat.py --clients 200 --interval 0     # closed loop: max throughput
    .venv/bin/python bench/webchat.py --clients 50 --channel ops --command /whoami   # fan-out
    .venv/bin/python bench/webchat.py --clients 200 --via ws         # post over the WebSocket
    .venv/bin/python bench/webchat.py --clients 200 --seconds 20 --command "ping hello"  # runs

Each client is a demo user of its own (``bench001`` …). By default each posts ``whoami`` to
its own DM with the bot once per ``--interval`` seconds on average (people type, they do
not hammer); ``--interval 0`` posts the next command as soon as the answer arrives. In a
channel the bot answers only commands with a ``/``. ``ping`` is a command that runs (a run row,
its audit rows, the python runner, the reply edited in place), where ``whoami`` is answered
in process. The server's CPU time per answered
command is reported too: on a shared machine it moves much less than latency does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, clients: int) -> Path:
    from opsroom.config.loader import DEMO_CONFIG

    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database"] = {"url": f"sqlite:///{folder / 'bench.db'}"}
    for section in ("kb", "runbooks"):  # the demo's articles and runbooks, not copied here
        data[section]["paths"] = [str(DEMO_CONFIG.parent / p) for p in data[section]["paths"]]
    data["users"] = {f"bench{i:03d}": {"roles": ["sre"]} for i in range(1, clients + 1)}
    data["chat"] = {"web": {"signin_attempts_per_address": clients * 2 + 10}}
    data.pop("guardrails", None)  # rate limits per user would throttle the bench, not opsroom
    # A command that runs: the whole pipeline (Cedar, run row and audit rows committed, the
    # python runner, the progress message and its final edit), with no subprocess to start.
    data["commands"]["ping"] = {
        "summary": "answers pong (a run through the python runner)",
        "read_only": True,
        "args": [{"name": "text", "type": "string", "required": False, "default": "pong"}],
        "runner": {"type": "python", "callable": "opsroom.demo.noop:pong"},
    }
    data["policy"]["rules"].append({"id": "bench-ping", "allow": ["ping"], "roles": ["sre"]})
    path = folder / "opsroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Client:
    def __init__(self, base: str, user: str, channel: str, via: str = "http") -> None:
        self.base = base
        self.via = via
        self._posted: asyncio.Future[int] | None = None
        self.user = user
        self.channel = channel if channel != "dm" else f"dm:{user}"
        # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close
        # them under a request in flight (an httpx.ReadError, not opsroom's doing).
        self.http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(keepalive_expiry=4.0))
        self.csrf = ""
        self.latencies: list[float] = []
        self.received = 0
        self._waiting: tuple[int, float, asyncio.Future[float]] | None = None
        self._pending_replies: list[int] = []

    async def sign_in(self) -> None:
        page = await self.http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = await self.http.post("/login", data={"username": self.user, "csrf": token})
        assert response.status_code == 303, response.text[:200]
        chat = await self.http.get(f"/chat/{self.channel}")
        self.csrf = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]

    async def listen(self, ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            self.received += 1
            event = json.loads(raw)
            if event["type"] in ("posted", "error"):
                if event["type"] == "error":
                    raise RuntimeError(f"{self.user}: post refused: {event}")
                if self._posted is not None and not self._posted.done():
                    self._posted.set_result(event["id"])
                continue
            if event["type"] != "message" or " bot" not in event["html"][:80]:
                continue
            waiting = self._waiting
            if waiting is not None and event["id"] > waiting[0] and not waiting[2].done():
                waiting[2].set_result(time.perf_counter())

    async def run(self, command: str, interval: float, until: float) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        url = self.base.replace("http://", "ws://") + f"/chat/ws?channel={self.channel}"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}, max_queue=None) as ws:
            listener = asyncio.create_task(self.listen(ws))
            if interval:
                await asyncio.sleep(random.uniform(0, interval))
            while time.perf_counter() < until:
                started = time.perf_counter()
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                self._waiting = (0, started, future)
                if self.via == "ws":
                    self._posted = asyncio.get_running_loop().create_future()
                    await ws.send(json.dumps({"type": "post", "text": command}))
                    posted_id = await asyncio.wait_for(self._posted, 30)
                else:
                    response = await self.http.post(
                        f"/chat/{self.channel}/messages",
                        json={"text": command},
                        headers={"X-CSRF-Token": self.csrf},
                    )
                    if response.status_code != 202:
                        raise RuntimeError(f"{self.user}: post refused: {response.status_code} {response.text[:200]}")
                    posted_id = response.json()["id"]
                self._waiting = (posted_id, started, future)
                try:
                    arrived = await asyncio.wait_for(future, 30)
                except TimeoutError:
                    print(f"{self.user}: no reply within 30 s", file=sys.stderr)
                    continue
                self.latencies.append(arrived - started)
                if interval:  # never past the end: a long pause would only stretch the run
                    pause = min(random.expovariate(1 / interval), until - time.perf_counter())
                    if pause > 0:
                        await asyncio.sleep(pause)
            listener.cancel()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


async def bench(args: argparse.Namespace, base: str, server_pid: int) -> dict[str, float]:
    clients = [Client(base, f"bench{i:03d}", args.channel, args.via) for i in range(1, args.clients + 1)]
    for i in range(0, len(clients), 20):
        await asyncio.gather(*(c.sign_in() for c in clients[i : i + 20]))
    # Keep the load generator's own garbage-collector pauses (up to 300 ms here, with 200
    # HTTP clients' worth of objects) out of the latencies it reports.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    server_cpu = cpu_seconds(server_pid)
    client_cpu = time.process_time()
    until = started + args.seconds
    await asyncio.gather(*(c.run(args.command, args.interval, until) for c in clients))
    elapsed = time.perf_counter() - started
    server_cpu_end = cpu_seconds(server_pid)
    client_cpu = time.process_time() - client_cpu
    latencies = [x for c in clients for x in c.latencies]
    if not latencies:
        raise SystemExit(f"no command was answered: is {args.command!r} a command in {args.channel}?")
    for c in clients:
        await c.http.aclose()
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "commands": len(latencies),
        "commands_per_s": round(len(latencies) / elapsed, 1),
        "ws_messages_per_s": round(sum(c.received for c in clients) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        # The server's CPU per answered command: steadier than latency on a busy machine.
        "server_cpu_ms_per_command": (
            round((server_cpu_end - server_cpu) * 1000 / len(latencies), 2)
            if server_cpu is not None and server_cpu_end is not None and latencies
            else -1
        ),
        # This process's share of the machine: when it nears one core, the client is the limit.
        "client_cpu_percent": round(100 * client_cpu / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="mean seconds between a client's commands (0: next one as soon as answered)",
    )
    parser.add_argument("--command", default="whoami")
    parser.add_argument(
        "--via",
        choices=["http", "ws"],
        default="http",
        help="post commands with HTTP POSTs (as the page does) or over the WebSocket",
    )
    parser.add_argument("--channel", default="dm", help="dm (each client its own DM) or a channel id, e.g. ops")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(folder, args.clients)
        port = free_port()
        env = dict(os.environ, OPSROOM_DEMO_SPEED="0.01")
        server = subprocess.Popen(
            [sys.executable, "-m", "opsroom.cli", "run", "--config", str(config), "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(
                        "opsroom did not start: " + (server.stderr.read().decode() if server.stderr else "")
                    )
                time.sleep(0.1)
            result = asyncio.run(bench(args, base, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(
        f"web chat: {result['clients']} clients posting over {args.via}, {args.command!r} in {args.channel}, "
        f"interval {args.interval}s, {result['seconds']}s"
    )
    print(
        f"  commands answered: {result['commands']} ({result['commands_per_s']}/s); "
        f"WebSocket messages delivered: {result['ws_messages_per_s']}/s"
    )
    print(
        f"  post → first bot reply: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
    )
    print(
        f"  server CPU per answered command: {result['server_cpu_ms_per_command']} ms; "
        f"load generator CPU: {result['client_cpu_percent']}% of a core"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
