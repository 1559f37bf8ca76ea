"""Deploy locks across three replicas (`jobs: local`: each replica runs what it receives):
deploys of one target typed through all three at once, round after round (each round
first through another replica); each attempt either
runs or is refused by the lock, and the runs' own timestamps show no two ever overlapped."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from tests.support.cluster import Replica, wait_for

from opsroom.store.tables import audit_log, runs

ROUNDS = 4


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_deploys_of_one_target_through_three_replicas_never_overlap(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    replicas.extend(Replica.start_all(cluster_config, tmp_path, "abc", speed="0.2"))
    sessions = [r.sign_in("alice", "ops") for r in replicas]
    engine = create_engine(db_url)

    def active() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(runs.c.id).where(runs.c.state.in_(["queued", "running"]))).first() is not None

    for round_ in range(ROUNDS):  # each round typed first through another replica
        order = [(round_ + i) % 3 for i in range(3)]
        for i in order:
            replicas[i].say("alice", "ops", "/deploy checkout staging", sessions[i])
        wait_for(lambda: not active(), 60)
    with engine.connect() as conn:
        deploys = conn.execute(
            select(runs.c.id, runs.c.state, runs.c.started_at, runs.c.finished_at, runs.c.extra)
            .where(runs.c.command == "deploy")
            .order_by(runs.c.started_at)
        ).all()
        refused = conn.execute(select(audit_log.c.id).where(audit_log.c.action == "lock.refused")).all()
    engine.dispose()
    ran_on = {d.extra.get("replica") for d in deploys}
    print(
        f"{len(deploys)} deploys of checkout staging ran (on {len(ran_on)} replicas), "
        f"{len(refused)} refused by its lock, out of {3 * ROUNDS}"
    )
    assert len(deploys) + len(refused) == 3 * ROUNDS, "each attempt ran or was refused"
    assert len(deploys) >= ROUNDS and len(refused) >= ROUNDS, "each round one ran and the others were refused"
    assert all(d.state == "succeeded" for d in deploys)
    assert len(ran_on) >= 2, "the lock held between replicas, not within one"
    for first, second in zip(deploys, deploys[1:], strict=False):
        assert first.finished_at <= second.started_at, f"deploys #{first.id} and #{second.id} overlapped"
