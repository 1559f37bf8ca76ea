"""``cluster:`` in opsroom.yaml: one process (the default) or N identical replicas on one
PostgreSQL database."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import Field, model_validator

from opsroom.config.base import Section


class ClusterConfig(Section):
    enabled: bool = Field(
        False,
        description="Run several identical `opsroom run` replicas on one PostgreSQL "
        "database (SQLite is refused). Off: one process, as by default.",
    )
    heartbeat_s: float = Field(5.0, gt=0, le=60, description="How often each replica says it is alive.")
    dead_after_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="A replica silent this long is dead: its runs are "
        "marked interrupted (never re-run) and their locks freed by the leader.",
    )

    jobs: Literal["local", "procrastinate"] = Field(
        "local",
        description="Where a run executes: `local`, on the replica that received the command; "
        "`procrastinate`, on whichever replica's worker takes its job (needs the `cluster` extra).",
    )

    @model_validator(mode="after")
    def _dead_after_beats(self) -> ClusterConfig:
        if self.dead_after_s < 2 * self.heartbeat_s:
            raise ValueError("cluster.dead_after_s must be at least twice heartbeat_s, or a slow beat kills a replica")
        if self.jobs == "procrastinate" and importlib.util.find_spec("procrastinate") is None:
            raise ValueError("cluster.jobs: procrastinate needs the cluster extra: pip install 'opsroom[cluster]'")
        return self
