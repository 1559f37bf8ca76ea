"""A rolling restart: two replicas, each stopped (SIGTERM) and started again in turn while
alice keeps typing. Every command a replica acknowledged (HTTP 202) is answered, once — a
stopping replica finishes the commands it accepted before it exits."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from tests.support.cluster import Replica, wait_for

from opsroom.chat.web.tables import webchat_messages as t


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_rolling_restart_loses_no_acknowledged_command(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    a, b = Replica.start_all(cluster_config, tmp_path, "ab", speed="0.01")
    replicas.extend((a, b))
    session = a.sign_in("alice", "dm:alice")  # sessions are rows: valid on every replica
    acked = 0

    def burst(replica: Replica, n: int) -> None:
        nonlocal acked
        for _ in range(n):
            replica.say("alice", "dm:alice", "whoami", session)
            acked += 1

    def restart(old: Replica, other: Replica, name: str) -> Replica:
        burst(old, 5)  # the last ones are still being answered when the stop arrives
        old.process.send_signal(signal.SIGTERM)
        burst(other, 3)  # the load balancer sends the rest to the other replica
        assert old.process.wait(30) in (0, -signal.SIGTERM)
        new = Replica(cluster_config, tmp_path, name, speed="0.01")
        replicas.append(new)
        burst(new, 2)
        return new

    a = restart(a, b, "a2")
    b = restart(b, a, "b2")

    engine = create_engine(db_url)

    def answers() -> int:
        with engine.connect() as conn:
            query = select(func.count()).where(
                t.c.channel == "dm:alice", t.c.is_bot.is_(True), t.c.text.contains("Roles: sre")
            )
            return int(conn.execute(query).scalar_one())

    wait_for(lambda: answers() >= acked, 20)
    assert answers() == acked == 20, "every acknowledged command answered, once"
    engine.dispose()
    assert httpx.get(f"{a.base}/healthz", timeout=5).status_code == 200
