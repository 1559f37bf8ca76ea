"""Cluster benchmark: commands/s of 1 and of N `opsroom run` replicas on one PostgreSQL schema.

Web chat clients (bench/webchat.py's ``Client``) are spread over the replicas, as a load
balancer would; each posts ``whoami`` to its DM and waits for the bot's answer on its
WebSocket, then posts the next (closed loop). ``--cross`` makes each client post through one
replica and listen on another, so every answer reaches the browser through LISTEN/NOTIFY
(cluster/fanout.py).

    .venv/bin/python bench/cluster.py [--replicas 1,3] [--clients 60] [--seconds 15] [--cross]
    .venv/bin/python bench/cluster.py --command ping --jobs procrastinate   # runs as shared jobs

``whoami`` is answered by the engine itself; ``ping`` is a run (a python runner answering
"pong": run row, progress message, final edit), and with ``--jobs procrastinate`` each run is
a Procrastinate job taken by any replica's worker.

Prints, per replica count: commands/s, post → answer p50/p95/p99, and the replicas' CPU per
command (summed over the processes). On a machine with fewer cores than replicas the
replicas share the cores, so more replicas cannot answer more: the figure to read there is
the cost per command and the latency, not the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webchat import Client, cpu_seconds, free_port, percentile, write_config  # noqa: E402

PG_URL = os.environ.get("OPSROOM_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "opsroom_bench_cluster"


def fresh_schema() -> str:
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    engine.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{SCHEMA}"


def start(config: Path, folder: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (folder / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "opsroom.cli", "run", "--config", str(config), "--port", str(port)],
        cwd=folder,
        env=dict(os.environ, OPSROOM_DEMO_SPEED="0.01"),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"replica {name} did not start: see {folder / (name + '.log')}")
        time.sleep(0.1)


async def drive(args: argparse.Namespace, bases: list[str], pids: list[int]) -> dict[str, float]:
    n = len(bases)
    clients = [Client(bases[i % n], f"bench{i + 1:03d}", "dm") for i in range(args.clients)]
    for i in range(0, len(clients), 20):
        await asyncio.gather(*(c.sign_in() for c in clients[i : i + 20]))
    if args.cross and n > 1:  # post through one replica, listen on the next: answers arrive by NOTIFY
        for i, c in enumerate(clients):
            c.http.base_url = httpx.URL(bases[(i + 1) % n])  # the same session row serves every replica
    gc.collect()
    gc.freeze()
    cpu = [cpu_seconds(p) or 0.0 for p in pids]
    started = time.perf_counter()
    until = started + args.seconds
    await asyncio.gather(*(c.run(args.command, 0.0, until) for c in clients))
    elapsed = time.perf_counter() - started
    used = sum((cpu_seconds(p) or 0.0) - before for p, before in zip(pids, cpu, strict=True))
    latencies = [x for c in clients for x in c.latencies]
    for c in clients:
        await c.http.aclose()
    if not latencies:
        raise SystemExit("no command was answered")
    return {
        "commands": len(latencies),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50": round(percentile(latencies, 50) * 1000, 1),
        "p95": round(percentile(latencies, 95) * 1000, 1),
        "p99": round(percentile(latencies, 99) * 1000, 1),
        "cpu_ms": round(used * 1000 / len(latencies), 2),
    }


def one(args: argparse.Namespace, replicas: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(folder, args.clients)
        data = yaml.safe_load(config.read_text())
        data["database"] = {"url": fresh_schema()}
        data["cluster"] = {"enabled": replicas > 1 or args.cluster_for_one}
        if data["cluster"]["enabled"]:
            data["cluster"]["jobs"] = args.jobs
        # `ping` (a run through the python runner) and its rule come with webchat.write_config
        config.write_text(yaml.safe_dump(data))
        started: list[subprocess.Popen[bytes]] = []
        try:
            bases = []
            for i in range(replicas):
                process, base = start(config, folder, f"r{i}")
                started.append(process)
                bases.append(base)
            return asyncio.run(drive(args, bases, [p.pid for p in started]))
        finally:
            for process in started:
                process.terminate()
            for process in started:
                process.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", default="1,3", help="comma-separated replica counts")
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--cross", action="store_true", help="post through one replica, listen on another")
    parser.add_argument("--command", default="whoami", help="whoami (answered in process) or ping (a run)")
    parser.add_argument("--jobs", choices=["local", "procrastinate"], default="local", help="cluster.jobs")
    parser.add_argument(
        "--cluster-for-one", action="store_true", help="one replica in cluster mode too (default: single mode)"
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; {args.clients} web chat clients, closed loop, {args.command} to their DM, "
        f"{args.seconds}s, cluster.jobs {args.jobs}"
    )
    for count in (int(x) for x in args.replicas.split(",")):
        r = one(args, count)
        mode = "cluster" if count > 1 or args.cluster_for_one else "single"
        print(
            f"  {count} replica(s), {mode} mode{' (cross)' if args.cross and count > 1 else ''}: "
            f"{r['per_s']} commands/s ({r['commands']}), post → answer p50 {r['p50']} ms, "
            f"p95 {r['p95']} ms, p99 {r['p99']} ms; server CPU {r['cpu_ms']} ms per command"
        )


if __name__ == "__main__":
    main()
