"""Two `opsroom run` replicas on one PostgreSQL database (cluster mode), as an operator runs
them: a replica that starts never interrupts a live neighbour's run; when a replica is killed
with SIGKILL, the survivor takes the leader lease, ends the dead replica's run as
`interrupted` (its process group stopped, its lock freed) and never runs it itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from tests.support.cluster import Replica, wait_for

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
        assert wait_for(lambda: not _alive(pid), 15)
    engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_cancel_clicked_on_another_replica_stops_the_run_where_it_runs(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    """Alice's browser is on B; her deploy runs on A. Her Cancel goes through B to A, which
    stops the process and only then ends the run and frees the lock (never B marking it
    cancelled while A's process still deploys)."""
    from sqlalchemy import text

    from opsroom.chat.web.tables import webchat_messages

    engine = create_engine(db_url)
    a = Replica(cluster_config, tmp_path, "a", speed="20")
    replicas.append(a)
    b = Replica(cluster_config, tmp_path, "b", speed="20")
    replicas.append(b)
    a.say("alice", "ops", "/deploy api-gateway staging")

    def cancel_button() -> Any:
        with engine.connect() as conn:
            for row in conn.execute(select(webchat_messages.c.id, webchat_messages.c.body)):
                for block in (row.body or {}).get("blocks", []):
                    for button in block.get("buttons", []) if block.get("type") == "actions" else []:
                        if button.get("label") == "Cancel":
                            return row.id, button["action_id"]
        return None

    message_id, action = wait_for(cancel_button, 30)
    with engine.connect() as conn:
        run = conn.execute(select(runs.c.id, runs.c.state, runs.c.extra)).one()
    assert run.state == "running"
    pid = run.extra["process"]["pid"]
    cookie, token = b.sign_in("alice", "ops")
    clicked = httpx.post(
        f"{b.base}/chat/actions",
        json={"message": message_id, "action": action},
        headers={"Cookie": cookie, "X-CSRF-Token": token},
        timeout=10,
    )
    assert clicked.status_code == 202, clicked.text
    wait_for(lambda: not _alive(pid), 15)
    with engine.connect() as conn:
        wait_for(lambda: conn.execute(select(runs.c.state)).scalar() == "cancelled", 15)
        assert conn.execute(select(locks)).first() is None
        actions = [r[0] for r in conn.execute(text("SELECT action FROM audit_log ORDER BY id"))]
    assert "run.cancel_requested" in actions and actions.count("run.finished") == 1
    engine.dispose()
