"""Periodic work across three replicas (`cluster.jobs: procrastinate`): an incident whose lead
is unclaimed past `lead_unclaimed_minutes` is reminded once in its war room, though every
replica's worker defers the reminder check each second; a tick that comes again (a job for
a timestamp that already ran, as a stalled worker would leave it) says nothing twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select, text, update
from tests.support.cluster import Replica, wait_for

from opsroom.chat.web.tables import webchat_messages as t
from opsroom.incidents.tables import incidents

REMINDER = "has no commander"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_periodic_reminder_fires_once_with_three_replicas(
    tmp_path: Path, db_url: str, cluster_config: Path, replicas: list[Replica]
) -> None:
    data = yaml.safe_load(cluster_config.read_text())
    data["cluster"]["jobs"] = "procrastinate"
    data.setdefault("incidents", {}).update({"lead_unclaimed_minutes": 1, "reminder_check_seconds": 1})
    cluster_config.write_text(yaml.safe_dump(data))
    replicas.extend(Replica.start_all(cluster_config, tmp_path, "abc", speed="0.01"))
    a = replicas[0]
    engine = create_engine(db_url)

    def reminders() -> int:
        with engine.connect() as conn:
            texts = conn.execute(select(t.c.text).where(t.c.is_bot.is_(True))).scalars()
            return sum(REMINDER in (x or "") for x in texts)

    session = a.sign_in("alice", "ops")
    a.say("alice", "ops", '/incident declare "Search down" sev4 service=search', session)
    with engine.connect() as conn:
        wait_for(lambda: conn.execute(select(incidents.c.id)).first(), 30)
    a.say("alice", "ops", "/incident role commander none incident=1", session)
    time.sleep(3)  # three ticks: nothing is due yet
    assert reminders() == 0
    with engine.begin() as conn:  # declared 90 s ago: the first minute without a lead has passed
        conn.execute(update(incidents).values(declared_at=incidents.c.declared_at - text("interval '90 seconds'")))
    wait_for(lambda: reminders() >= 1, 30)
    time.sleep(4)  # four more ticks, deferred by three replicas each
    assert reminders() == 1, "the reminder went out once across three replicas"

    # a late, repeated tick: a job for a timestamp that already ran comes again
    with engine.begin() as conn:
        done = conn.execute(
            text(
                "SELECT max(defer_timestamp) FROM procrastinate_periodic_defers "
                "WHERE task_name = 'opsroom.periodic.incident-reminders'"
            )
        ).scalar()
        job = conn.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                "VALUES ('periodic', 'opsroom.periodic.incident-reminders', CAST(:args AS jsonb)) RETURNING id"
            ),
            {"args": json.dumps({"timestamp": int(done)})},
        ).scalar()
    with engine.connect() as conn:
        wait_for(lambda: not conn.execute(text("SELECT 1 FROM procrastinate_jobs WHERE id = :id"), {"id": job}).first())
    assert reminders() == 1, "a repeated tick said nothing twice"
    print(f"reminder checks ran each second until {done} (the last one twice); one reminder")
    engine.dispose()
