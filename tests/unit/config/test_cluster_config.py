"""Cluster mode's settings: PostgreSQL only, and a dead-replica timeout that a slow heartbeat
cannot trip."""

from __future__ import annotations

import pytest
from tests.support.system import demo_data

from opsroom.config.loader import validate
from opsroom.core import ConfigError


def test_cluster_mode_is_refused_on_sqlite_with_a_reason() -> None:
    data = demo_data()
    data["cluster"] = {"enabled": True}
    with pytest.raises(ConfigError, match="cluster.enabled needs PostgreSQL"):
        validate(data, "opsroom.yaml")
    data["database"] = {"url": "postgresql+psycopg://opsroom@db/opsroom"}
    assert validate(data, "opsroom.yaml").cluster.enabled


def test_dead_after_must_outlast_two_heartbeats() -> None:
    data = demo_data()
    data["database"] = {"url": "postgresql+psycopg://opsroom@db/opsroom"}
    data["cluster"] = {"enabled": True, "heartbeat_s": 5, "dead_after_s": 6}
    with pytest.raises(ConfigError, match="at least twice heartbeat_s"):
        validate(data, "opsroom.yaml")


def test_the_job_queue_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    data = demo_data()
    data["database"] = {"url": "postgresql+psycopg://opsroom@db/opsroom"}
    data["cluster"] = {"enabled": True, "jobs": "procrastinate"}
    assert validate(data, "opsroom.yaml").cluster.jobs == "procrastinate"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "procrastinate" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'opsroom\[cluster\]'"):
        validate(data, "opsroom.yaml")
