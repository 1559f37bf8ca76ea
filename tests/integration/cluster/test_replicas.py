"""Two `opsroom run` replicas on one PostgreSQL database (cluster mode), as an operator runs
them: a replica that starts never interrupts a live neighbour's run; when a replica is killed
with SIGKILL, the survivor takes the leader lease, ends the dead replica's run as
`interrupted` (its process group stopped, its lock freed) and never runs it itself."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from tests.support.cluster import Replica, alive, wait_for

from opsroom.store.tables import audit_log, locks, runs


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
        assert wait_for(lambda: not alive(pid), 15)
    engine.dispose()
