"""Runs as jobs (`cluster.jobs: procrastinate`): commands typed through replica A are run by
whichever replica's worker takes their job — some by B — each exactly once (one
`run.started` per run), answered in the channel, and the run row names the replica that ran
it. Deploys of one target typed through both replicas at once: one runs, the others are
refused by its lock, never two at a time. A queued run whose job was lost (a crash between
commit and defer) is deferred again by the leader and runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, insert, select, text
from tests.support.cluster import Replica, wait_for

from opsroom.store.tables import audit_log, runs


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_runs_typed_on_one_replica_run_once_each_on_any(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    data = yaml.safe_load(cluster_config.read_text())
    data["cluster"]["jobs"] = "procrastinate"
    cluster_config.write_text(yaml.safe_dump(data))
    a, b = Replica.start_all(cluster_config, tmp_path, "ab", speed="0.3")
    replicas.extend((a, b))
    engine = create_engine(db_url)

    def rows() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(select(runs.c.id, runs.c.command, runs.c.state, runs.c.extra).order_by(runs.c.id)))

    session = a.sign_in("alice", "ops")
    for service in ("payments", "api-gateway", "checkout") * 4:
        a.say("alice", "ops", f"/status {service}", session)
    done = wait_for(lambda: len(found := rows()) == 12 and all(r.state == "succeeded" for r in found) and found, 60)
    ran_on = {r.extra["replica"] for r in done}
    print(f"12 runs typed on A ran on {len(ran_on)} replicas")
    assert len(ran_on) == 2, "B's worker took some of A's runs"

    # one target, deploys typed through both replicas at once: never two at a time
    b_session = b.sign_in("alice", "ops")
    for _ in range(3):
        a.say("alice", "ops", "/deploy checkout staging", session)
        b.say("alice", "ops", "/deploy checkout staging", b_session)
    with engine.connect() as conn:
        wait_for(lambda: not conn.execute(select(runs.c.id).where(runs.c.state.in_(["queued", "running"]))).first(), 60)
        deploys = conn.execute(
            select(runs.c.started_at, runs.c.finished_at).where(runs.c.command == "deploy").order_by(runs.c.started_at)
        ).all()
        refused = conn.execute(select(audit_log.c.id).where(audit_log.c.action == "lock.refused")).all()
    print(f"{len(deploys)} deploys of one target ran, one after the other; {len(refused)} refused by its lock")
    assert deploys and len(deploys) + len(refused) == 6, "each attempt ran or was refused"
    for first, second in zip(deploys, deploys[1:], strict=False):
        assert first.finished_at <= second.started_at, "two deploys of checkout staging overlapped"

    # a queued run with no job (its replica died between the commit and the defer)
    with engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                command="status",
                args={"service": "payments", "env": "all"},
                raw_text="status payments",
                user="alice",
                platform="web",
                channel="ops",
                channel_name="#ops",
                state="queued",
                fingerprint="",
                dry_run=False,
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10),
                result="",
                error="",
                output="",
                output_truncated=False,
                timeout=30,
                extra={"replica": "gone:1:1"},
            )
        )
    wait_for(lambda: (found := rows()) and found[-1].command == "status" and found[-1].state == "succeeded", 30)
    with engine.connect() as conn:
        started = [
            r.run_id for r in conn.execute(select(audit_log.c.run_id).where(audit_log.c.action == "run.started"))
        ]
    assert sorted(started) == [r.id for r in rows()], "every run started exactly once"
    left = text("SELECT status, count(*) FROM procrastinate_jobs WHERE task_name = 'opsroom.run' GROUP BY status")

    def jobs() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(left))

    # Every run's job done and deleted: the run row is the record. The worker deletes a job
    # when its task returns, just after the run's last commit: give it that moment.
    try:
        wait_for(lambda: not jobs(), 10)
    except AssertionError:
        raise AssertionError(f"jobs left behind: {jobs()}") from None
    engine.dispose()
