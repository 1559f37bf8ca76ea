"""Fixtures of the cluster tests: a cluster-mode config on the test's PostgreSQL schema, and
the replicas a test starts (killed at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.support.cluster import Replica
from tests.support.system import demo_data_elsewhere


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
