"""Alert intake benchmark: prints its figures, is not a timed test.

1. Throughput: alerts/s accepted through POST /hooks/alertmanager (bearer token checked,
   body read with a cap, parsed, deduplicated, grouped, stored, audited) in batches of 100,
   on the ASGI app in-process (httpx ASGITransport), SQLite file database. The alert pool
   is smaller than the number sent, so most alerts are repeats (dedup) and they fall into
   50 groups by alertname.
2. Storm: 10,000 distinct alerts (10,000 groups) in 10 s with the notifier running on the
   real clock and the default budget (20 posts per 10 min per channel): how many chat
   messages were posted, and whether every alert is in the store.

3. distinct (issue 14): 50,000 distinct alerts in 500 groups from 4 clients; CPU per alert
   in each fifth of the run (flat as the groups fill).
4. storm-health: /healthz p50/p99 from another process during a 10,000-alert storm.
5. alertmanager: Debian's prometheus-alertmanager and opsroom side by side, the same
   alerts and batches from the same client process over HTTP; prints the ratio.
6. stages (only when asked for): CPU per alert of decoding (and masking secrets and planning
   groups, where the webhook does that on its parse thread) and of storing, one thread.

    .venv/bin/python bench/alerts.py [--alerts 50000] [--storm 10000] [--postgres URL]
    .venv/bin/python bench/alerts.py --only distinct,alertmanager [--distinct 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from opsroom.alerts.http import routes
from opsroom.alerts.intake import alertmanager_payload
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_groups, alerts
from opsroom.audit.log import AuditLog
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Message, MessageRef, Place
from opsroom.store import Database
from opsroom.web.serving import event_loop_factory

TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


class CountingHub:
    def __init__(self) -> None:
        self.sent = 0
        self.top_level = 0
        self.updates = 0

    async def send(self, place: Place, message: Message) -> MessageRef:
        self.sent += 1
        self.top_level += place.thread is None
        return MessageRef(place, f"m{self.sent}")

    async def update(self, ref: MessageRef, message: Message) -> MessageRef:
        self.updates += 1
        return ref


def build(db: Database, **cfg: Any) -> tuple[AlertService, CountingHub, httpx.AsyncClient]:
    config = AlertsConfig.model_validate(
        {
            "sources": {"alertmanager": {"type": "alertmanager", "token_env": "BENCH_TOKEN"}},
            "max_body_bytes": 5_000_000,
            **cfg,
        }
    )
    hub = CountingHub()
    audit = AuditLog(db)
    service = AlertService(config, db, hub, mint=lambda kind, payload: f"{kind}:{payload}", audit_append=audit.append)
    app = Starlette(routes=routes(service, env={"BENCH_TOKEN": TOKEN}))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    return service, hub, client


def as_after_start() -> None:
    """What ``opsroom run`` does once everything is built (``app.System.start``): a full
    collection, then ``gc.freeze()``, so the collector's full passes during the run skip what
    lives as long as the process. Without it a full pass here took 40 ms of the GIL mid-run
    (``bench/alert_drains.py`` prints the passes), which the server does not pay."""
    gc.collect()
    gc.freeze()


def alert(name: str, instance: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "instance": instance, "severity": "warning", "job": "node"},
        "annotations": {"summary": f"{name} on {instance}", "description": "bench"},
        "startsAt": "2025-03-03T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"{name}-{instance}",
    }


async def throughput(db: Database, total: int) -> None:
    service, hub, client = build(db, grouping={"group_by": ["alertname"], "group_wait": "30s"})
    pool = [alert(f"Alert{i % 50}", f"host{i}:9100") for i in range(5000)]
    bodies = []
    for b in range(total // 100):
        batch = [pool[(b * 100 + j * 37) % len(pool)] for j in range(100)]
        bodies.append(alertmanager_payload(batch))
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        response = await client.post("/hooks/alertmanager", json=body, headers=HEADERS)
        latencies.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.text
    elapsed = time.perf_counter() - started
    with db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
        groups = conn.execute(select(func.count()).select_from(alert_groups)).scalar_one()
    latencies.sort()
    print(
        f"throughput: {total} alerts in {len(bodies)} batches of 100 in {elapsed:.2f}s "
        f"= {total / elapsed:,.0f} alerts/s; per batch p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms; "
        f"{stored} distinct alerts stored in {groups} groups"
    )
    await client.aclose()


def distinct_bodies(total: int, groups: int, batch: int = 100) -> list[dict[str, Any]]:
    """``total`` distinct alerts spread over ``groups`` alert names, ``batch`` per request."""
    pool = [alert(f"Alert{i % groups}", f"host{i // groups}:9100") for i in range(total)]
    return [alertmanager_payload(pool[i : i + batch]) for i in range(0, total, batch)]


async def distinct(db: Database, total: int, groups: int = 500, clients: int = 4) -> None:
    """Issue 14's figure: ``total`` distinct alerts in ``groups`` groups, batches of 100 from
    ``clients`` concurrent senders; CPU per alert (this process) in each fifth of the run, to
    see whether it stays flat as the groups fill."""
    service, hub, client = build(db, grouping={"group_by": ["alertname"], "group_wait": "30s"})
    bodies = distinct_bodies(total, groups)
    as_after_start()
    slices: list[tuple[float, float]] = []  # (wall, cpu) per fifth
    fifth = max(1, len(bodies) // 5)
    queue = iter(enumerate(bodies))
    marks: dict[int, tuple[float, float]] = {0: (time.perf_counter(), time.process_time())}

    async def sender() -> None:
        for index, body in queue:
            response = await client.post("/hooks/alertmanager", json=body, headers=HEADERS)
            assert response.status_code == 200, response.text
            if (index + 1) % fifth == 0:
                marks[(index + 1) // fifth] = (time.perf_counter(), time.process_time())

    started, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(sender() for _ in range(clients)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    for k in range(1, 6):
        if k in marks and k - 1 in marks:
            slices.append((marks[k][0] - marks[k - 1][0], marks[k][1] - marks[k - 1][1]))
    with db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
        ngroups = conn.execute(select(func.count()).select_from(alert_groups)).scalar_one()
    per = ", ".join(f"{c / (fifth * 100) * 1e6:.0f}" for _, c in slices)
    print(
        f"distinct: {total} distinct alerts in {ngroups} groups, batches of 100, {clients} clients: "
        f"{elapsed:.2f}s = {total / elapsed:,.0f} alerts/s; CPU {cpu / total * 1e6:.0f} µs/alert "
        f"(per fifth of the run: {per}); stored {stored}/{total}"
    )
    await client.aclose()


async def stages(db: Database, total: int) -> None:
    """CPU per alert of each intake stage in one thread, no HTTP: decoding the body (the
    Alertmanager fast path, else strict JSON and the parser) and storing it."""
    from opsroom.alerts import fastpath, ingest
    from opsroom.alerts.ingest import store_batch
    from opsroom.alerts.intake import parse
    from opsroom.web.intake import loads

    service, _hub, _client = build(db, grouping={"group_by": ["alertname"], "group_wait": "30s"})
    bodies = [json.dumps(b).encode() for b in distinct_bodies(total, 500)]
    # What the webhook's parse thread does beyond decoding: mask secrets and plan the groups
    # (``prepare``), or only mask them (older code), or neither (older still: all when storing).
    prepare = getattr(ingest, "prepare", None)
    masking = getattr(ingest, "redact_ahead", None)
    ahead = (lambda b: prepare(service.ctx, b)) if prepare is not None else masking
    extra = " (+ masking, planning)" if prepare else " (+ masking)" if ahead else ""
    decode = store = 0.0
    for body in bodies:
        c0 = time.process_time()
        batch = fastpath.alertmanager(body, source="alertmanager", max_alerts=1000)
        if batch is None:
            batch = parse("alertmanager", loads(body), source="alertmanager")
        if ahead is not None:  # the webhook masks secrets on its parse thread, as here
            batch = ahead(batch)
        c1 = time.process_time()
        store_batch(service.ctx, "alertmanager", batch, service.clock())
        decode, store = decode + c1 - c0, store + time.process_time() - c1
    print(
        f"stages: {total} distinct alerts in 500 groups, batches of 100, one thread: decode+parse"
        f"{extra} {decode / total * 1e6:.1f} µs/alert, store {store / total * 1e6:.1f} "
        f"µs/alert, together {(decode + store) / total * 1e6:.1f}"
    )


async def storm(db: Database, total: int, seconds: float = 10.0) -> None:
    service, hub, client = build(
        db, grouping={"group_by": ["alertname"], "group_wait": "1s", "group_interval": "5s"}, tick=0.5
    )
    await service.start()
    batches = total // 100
    started = time.perf_counter()
    for b in range(batches):
        body = alertmanager_payload([alert(f"Storm{b * 100 + j}", "h1") for j in range(100)])
        response = await client.post("/hooks/alertmanager", json=body, headers=HEADERS)
        assert response.status_code == 200, response.text
        # Spread the batches over `seconds`, as a real storm arrives.
        lag = started + (b + 1) * seconds / batches - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
    sent_in = time.perf_counter() - started
    # Let the notifier catch up (group_wait, digest refresh).
    for _ in range(60):
        await asyncio.sleep(0.5)
        with db.read() as conn:
            pending = conn.execute(
                select(func.count()).select_from(alert_groups).where(alert_groups.c.delivery == "pending")
            ).scalar_one()
        if pending == 0:
            break
    await asyncio.sleep(2.5)  # one more digest refresh
    await service.stop()
    settled = time.perf_counter() - started
    with db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
        by_delivery = dict(
            conn.execute(select(alert_groups.c.delivery, func.count()).group_by(alert_groups.c.delivery)).all()
        )
    print(
        f"storm: {total} distinct alerts sent in {sent_in:.1f}s; notifier settled after {settled:.1f}s; "
        f"chat: {hub.top_level} top-level messages (budget 20 + 1 digest), {hub.updates} edits, "
        f"{hub.sent - hub.top_level} thread replies; groups by delivery {by_delivery}; "
        f"alerts in store {stored}/{total} {'OK' if stored == total else 'MISSING'}"
    )
    assert stored == total and hub.top_level <= 21
    await client.aclose()


class SlowHub(CountingHub):
    """A chat platform that takes a few milliseconds per call, as a real one does."""

    async def send(self, place: Place, message: Message) -> MessageRef:
        await asyncio.sleep(0.003)
        return await super().send(place, message)

    async def update(self, ref: MessageRef, message: Message) -> MessageRef:
        await asyncio.sleep(0.003)
        return await super().update(ref, message)


def _storm_client(port: int, total: int, clients: int, results: Any, stop: Any) -> None:
    """Runs in its own thread and event loop: senders post the storm while a prober asks
    /healthz every 10 ms and records how long each answer took."""

    async def run() -> None:
        bodies = [
            alertmanager_payload([alert(f"Storm{b * 100 + j}", "h1") for j in range(100)]) for b in range(total // 100)
        ]
        queue = iter(bodies)
        base = f"http://127.0.0.1:{port}"
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def sender() -> None:
                for body in queue:
                    response = await client.post("/hooks/alertmanager", json=body, headers=HEADERS)
                    assert response.status_code == 200, response.text

            async def prober() -> None:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    response = await client.get("/healthz")
                    latencies.append(time.perf_counter() - t0)
                    assert response.status_code == 200
                    await asyncio.sleep(0.01)

            probing = asyncio.create_task(prober())
            t0 = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(clients)))
            results.put(time.perf_counter() - t0)
            during = list(latencies)
            await asyncio.to_thread(stop.wait)
            await probing
        results.put((during, latencies))

    asyncio.run(run())


async def storm_health(db: Database, total: int, clients: int = 4, settle: float = 8.0) -> None:
    """Issue 11: /healthz (a database read, like the real one) stays under 100 ms p99 while
    ``total`` distinct alerts arrive in batches of 100 from ``clients`` senders and the
    notifier (real clock, a chat that takes 3 ms per call) works through them."""
    import uvicorn
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    config = AlertsConfig.model_validate(
        {
            "sources": {"alertmanager": {"type": "alertmanager", "token_env": "BENCH_TOKEN"}},
            "max_body_bytes": 5_000_000,
            "grouping": {"group_by": ["alertname"], "group_wait": "1s", "group_interval": "5s"},
            "tick": 0.5,
        }
    )
    hub = SlowHub()
    service = AlertService(
        config, db, hub, mint=lambda kind, payload: f"{kind}:{payload}", audit_append=AuditLog(db).append
    )

    async def healthz(_request: Any) -> JSONResponse:
        with db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", healthz), *routes(service, env={"BENCH_TOKEN": TOKEN})])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    await service.start()
    as_after_start()
    # The clients run in another process, so their own work does not count against the loop.
    spawn = multiprocessing.get_context("spawn")
    results: Any = spawn.Queue()
    stop = spawn.Event()
    client = spawn.Process(target=_storm_client, args=(port, total, clients, results, stop))
    client.start()
    sent_in = await asyncio.to_thread(results.get)
    await asyncio.sleep(settle)  # the notifier works through the groups while probes go on
    stop.set()
    during, every = await asyncio.to_thread(results.get)
    await asyncio.to_thread(client.join)
    out = {"sent_in": sent_in, "during": during, "all": every}
    await service.stop()
    server.should_exit = True
    await serving

    def figures(values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
        return (
            f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms over {len(ordered)} probes"
        )

    print(
        f"storm-health: {total} distinct alerts from {clients} clients sent in {out['sent_in']:.1f}s; "
        f"/healthz while sending: {figures(out['during'])}; including {settle:.0f}s of the notifier "
        f"catching up: {figures(out['all'])}; chat: {hub.top_level} posts, {hub.updates} edits"
    )


AM_CONFIG = """route:
  receiver: "null"
  group_by: ["alertname"]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: "null"
"""


async def _send_all(url: str, headers: dict[str, str], bodies: list[Any], clients: int) -> None:
    queue = iter(bodies)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as client:

        async def sender() -> None:
            for body in queue:
                response = await client.post(url, json=body, headers=headers)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(sender() for _ in range(clients)))


def _side_by_side_client(
    targets: list[tuple[str, str, dict[str, str]]], total: int, groups: int, clients: int, results: Any
) -> None:
    """Runs in its own process: for each (name, url, headers), the same ``total`` distinct
    alerts in batches of 100 from ``clients`` concurrent senders with one httpx client;
    Alertmanager gets each batch as its API's list of alerts, opsroom as the webhook body
    Alertmanager itself sends (the same alerts)."""

    async def run() -> None:
        pool = [alert(f"Alert{i % groups}", f"host{i // groups}:9100") for i in range(total)]
        batches = [pool[i : i + 100] for i in range(0, total, 100)]
        for name, url, headers in targets:
            if name == "alertmanager":
                bodies: list[Any] = [
                    [{k: a[k] for k in ("labels", "annotations", "startsAt", "generatorURL")} for a in batch]
                    for batch in batches
                ]
            else:
                bodies = [alertmanager_payload(batch) for batch in batches]
            t0, c0 = time.perf_counter(), time.process_time()
            await _send_all(url, headers, bodies, clients)
            results.put((name, time.perf_counter() - t0, time.process_time() - c0))

    asyncio.run(run())


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """(Python thread name, CPU seconds) of each live thread of this process, by thread id.

    Keyed by id, not name: two threads may share a name (two executors' ``…_0``), and a
    thread that is not a Python thread, or one whose Python side has ended, has none."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        tid = int(task.name)
        out[tid] = (names.get(tid, f"unnamed-{tid}"), (int(fields[11]) + int(fields[12])) / tick)
    return out


def _by_thread(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], process: float
) -> dict[str, float]:
    """CPU of the run by thread name. What the process spent but no thread alive at the end
    shows (a thread that ran and exited during the run) is counted as ``(ended threads)``,
    so the figures add up to the process's CPU (give or take /proc's clock-tick rounding)."""
    out: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        spent = cpu - before.get(tid, (name, 0.0))[1]
        out[name] = out.get(name, 0.0) + spent
    out["(ended threads)"] = max(0.0, process - sum(out.values()))
    return out


async def alertmanager_side_by_side(db: Database, total: int, groups: int = 500, clients: int = 4) -> None:
    """Issue 14's anchor: Debian's prometheus-alertmanager and opsroom take the same
    ``total`` distinct alerts in ``groups`` groups, batches of 100, from the same client
    process over HTTP on 127.0.0.1 (opsroom served by uvicorn, SQLite file, as in
    production). Alertmanager keeps alerts in memory and snapshots to disk now and then;
    opsroom commits each batch (dedup, grouping, events, audit) before it answers."""
    import shutil
    import subprocess

    import uvicorn

    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        print("alertmanager: prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "am.yml").write_text(AM_CONFIG)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            am_port = sock.getsockname()[1]
        am = subprocess.Popen(
            [
                binary,
                f"--config.file={Path(tmp) / 'am.yml'}",
                f"--storage.path={Path(tmp) / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient() as probe:
                while True:
                    try:
                        if (await probe.get(f"http://127.0.0.1:{am_port}/-/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("prometheus-alertmanager did not start")
                    await asyncio.sleep(0.1)
            service, _hub, _client = build(db, grouping={"group_by": ["alertname"], "group_wait": "30s"})
            app = Starlette(routes=routes(service, env={"BENCH_TOKEN": TOKEN}))
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            as_after_start()
            targets = [
                ("alertmanager", f"http://127.0.0.1:{am_port}/api/v2/alerts", {"Content-Type": "application/json"}),
                ("opsroom", f"http://127.0.0.1:{port}/hooks/alertmanager", HEADERS),
            ]
            spawn = multiprocessing.get_context("spawn")
            results: Any = spawn.Queue()
            client = spawn.Process(target=_side_by_side_client, args=(targets, total, groups, clients, results))
            figures: dict[str, tuple[float, float]] = {}
            sender_cpu: dict[str, float] = {}  # the client process's CPU while it sent to each
            am_cpu0, our_cpu0 = _proc_cpu(am.pid), time.process_time()
            client.start()
            name, elapsed, sender_cpu[name] = await asyncio.to_thread(results.get)
            figures[name] = (elapsed, _proc_cpu(am.pid) - am_cpu0)
            our_cpu0, threads0 = time.process_time(), _thread_cpu()
            name, elapsed, sender_cpu[name] = await asyncio.to_thread(results.get)
            figures[name] = (elapsed, time.process_time() - our_cpu0)
            threads = _by_thread(threads0, _thread_cpu(), figures[name][1])
            await asyncio.to_thread(client.join)
            server.should_exit = True
            await serving
            async with httpx.AsyncClient(timeout=60) as probe:  # 50,000 alerts as JSON: slow when busy
                held = len((await probe.get(f"http://127.0.0.1:{am_port}/api/v2/alerts")).json())
        finally:
            am.terminate()
            am.wait(timeout=15)
    with db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
    (am_s, am_cpu), (our_s, our_cpu) = figures["alertmanager"], figures["opsroom"]
    busiest = [(n, c) for n, c in sorted(threads.items(), key=lambda kv: -kv[1]) if c / total >= 0.5e-6]
    by_thread = ", ".join(f"{n} {c / total * 1e6:.0f} µs" for n, c in busiest)
    print(
        f"alertmanager side by side: {total} distinct alerts in {groups} groups, batches of 100, "
        f"{clients} clients, same client process over HTTP\n"
        f"  Alertmanager: {total / am_s:,.0f} alerts/s, {am_cpu / total * 1e6:.0f} µs CPU/alert (holds {held})\n"
        f"  opsroom:      {total / our_s:,.0f} alerts/s, {our_cpu / total * 1e6:.0f} µs CPU/alert (stored {stored}); "
        f"by thread: {by_thread}\n"
        f"  client process CPU/alert while sending: to Alertmanager "
        f"{sender_cpu['alertmanager'] / total * 1e6:.0f} µs, to opsroom {sender_cpu['opsroom'] / total * 1e6:.0f} µs\n"
        f"  ratio opsroom / Alertmanager: {am_s / our_s:.2f}x (target ≥ 0.5x)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--distinct", type=int, default=50_000, help="distinct alerts in 500 groups")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL instead of a temp SQLite file")
    parser.add_argument(
        "--only", default="", help="comma-separated: distinct,throughput,storm,storm-health,alertmanager,stages"
    )
    args = parser.parse_args()
    runs = {
        "distinct": lambda db: distinct(db, args.distinct),
        "throughput": lambda db: throughput(db, args.alerts),
        "storm": lambda db: storm(db, args.storm),
        "storm-health": lambda db: storm_health(db, args.storm),
        "alertmanager": lambda db: alertmanager_side_by_side(db, args.distinct),
        "stages": lambda db: stages(db, args.distinct),
    }
    wanted = args.only.split(",") if args.only else [n for n in runs if n != "stages"]
    chosen = [n for n in runs if n in wanted]
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in ((n, runs[n]) for n in chosen):
            url = args.postgres or f"sqlite:///{Path(tmp) / (name + '.db')}"
            db = Database.open(url)
            try:
                await run(db)
            finally:
                db.dispose()


if __name__ == "__main__":
    # The event loop ``opsroom run`` serves with (uvloop when installed), as bench/dispatch.py:
    # asyncio's own loop costs the server's loop thread more per request than the one it runs on.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())
