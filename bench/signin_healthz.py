"""/healthz latency while people sign in with argon2-hashed passwords, against a running
``opsroom run`` (argon2 is checked in a worker thread, one at a time: docs/security.md).

    .venv/bin/python bench/signin_healthz.py --base http://127.0.0.1:8080 --user alice --rounds 3

Each round sends 8 concurrent sign-ins with wrong passwords for ``--user`` (a user with a
``password_hash``) while ``/healthz`` is polled every 10 ms; prints p50/p99/max of /healthz.
The per-user limiter answers 429 after 5 failures, so later rounds cost less argon2 work.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time

import httpx


async def sign_in(base: str, user: str, attempt: int) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        page = await client.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if found is None:
            raise SystemExit("no sign-in form at /login")
        answer = await client.post(
            "/login", data={"username": user, "password": f"wrong-{attempt}", "csrf": found.group(1)}
        )
        return answer.status_code


async def main(base: str, user: str, rounds: int, concurrent: int) -> None:
    latencies: list[float] = []
    done = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, timeout=60) as health:

        async def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await health.get("/healthz")
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.01)

        poller = asyncio.create_task(poll())
        statuses: list[int] = []
        for r in range(rounds):
            statuses += await asyncio.gather(*(sign_in(base, user, r * 100 + i) for i in range(concurrent)))
        done.set()
        await poller
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"sign-ins: {len(statuses)} ({', '.join(f'{s}×{statuses.count(s)}' for s in sorted(set(statuses)))})")
    print(
        f"/healthz: n={len(latencies)} p50={statistics.median(latencies):.1f} ms "
        f"p99={p99:.1f} ms max={latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.base, args.user, args.rounds, args.concurrent))
