"""Two `opsroom run` replicas on one PostgreSQL database (cluster mode), as an operator runs
them: a replica that starts never interrupts a live neighbour's run; when a replica is killed
with SIGKILL, the survivor takes the leader lease, ends the dead replica's run as
`interrupted` (its process group stopped, its lock freed) and never runs it itself."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select
from tests.support.system import demo_data_elsewhere

from opsroom.store.tables import audit_log, locks, runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, config: Path, tmp_path: Path, name: str, speed: str) -> None:
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
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.1)

    def say(self, user: str, channel: str, text: str) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            page = http.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            assert http.post("/login", data={"username": user, "csrf": csrf}).status_code == 303
            chat = http.get(f"/chat/{channel}")
            token = re.search(r'data-csrf="([^"]+)"', chat.text).group(1)  # type: ignore[union-attr]
            posted = http.post(f"/chat/{channel}/messages", json={"text": text}, headers={"X-CSRF-Token": token})
            assert posted.status_code in (201, 202), posted.text

    def leads(self) -> bool:
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        return 'opsroom_leader{name="sweeper"} 1.0' in text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def cluster_config(tmp_path: Path, db_url: str) -> Path:
    data = demo_data_elsewhere()
    data["database"] = {"url": db_url}
    data["cluster"] = {"enabled": True, "heartbeat_s": 0.5, "dead_after_s": 2}
    config = tmp_path / "opsroom.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


@pytest.fixture
def replicas(tmp_path: Path, cluster_config: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()


def wait_for(what: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s")


# Cluster mode is PostgreSQL only (the config refuses it on SQLite: tests/unit/config/test_cluster_config.py).
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dead_replicas_run_is_interrupted_by_the_survivor_and_never_rerun(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    engine = create_engine(db_url)

    def run_row() -> Any:
        with engine.connect() as conn:
            return conn.execute(select(runs.c.id, runs.c.state, runs.c.extra)).first()

    a = Replica(cluster_config, tmp_path, "a", speed="20")  # its deploy takes minutes
    replicas.append(a)
    a.say("alice", "ops", "/deploy api-gateway staging")
    first = wait_for(lambda: (row := run_row()) is not None and row.state == "running" and row)
    b = Replica(cluster_config, tmp_path, "b", speed="0.01")
    replicas.append(b)
    time.sleep(2)  # b has started, swept and beaten a few times
    assert run_row().state == "running", "a live neighbour's run is left alone"
    assert a.leads() and not b.leads()

    a.process.send_signal(signal.SIGKILL)
    a.process.wait(10)
    killed = time.monotonic()
    wait_for(b.leads, 30)
    after = wait_for(lambda: (row := run_row()) is not None and row.state == "interrupted" and row, 30)
    print(f"failover: lease and run interrupted {time.monotonic() - killed:.1f} s after SIGKILL")
    assert after.id == first.id
    with engine.connect() as conn:
        assert conn.execute(select(locks)).first() is None, "the dead replica's lock is freed"
        actions = [r.action for r in conn.execute(select(audit_log.c.action).where(audit_log.c.run_id == first.id))]
    assert "run.interrupted" in actions
    assert actions.count("run.started") <= 1  # started once, on a; never again on b
    pid = after.extra.get("process", {}).get("pid")
    if pid:  # the deploy's own process (a's child) was stopped, not left running unlocked
        assert wait_for(lambda: not _alive(pid), 15)
    engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
