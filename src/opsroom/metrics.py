"""Prometheus metrics, served at /metrics (formatted by ``exposition()``, on the first scrape)."""

import functools
from typing import Any

from opsroom.lean_imports import import_prometheus_client

import_prometheus_client()  # without its exposition until a scrape (see opsroom.lean_imports)

from prometheus_client.metrics import Counter, Gauge, Histogram  # noqa: E402

__all__ = ["Counter", "Gauge", "Histogram", "exposition", "labelled"]

INBOUND = Counter("opsroom_inbound_commands_total", "Messages addressed to the bot", ["platform"])
DUPLICATES = Counter("opsroom_duplicate_deliveries_total", "Platform deliveries dropped as repeats", ["platform"])
COMMANDS = Counter("opsroom_commands_total", "Commands by outcome", ["command", "outcome"])
RUN_SECONDS = Histogram(
    "opsroom_run_duration_seconds",
    "Run durations",
    ["command"],
    buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
DECISION_SECONDS = Histogram(
    "opsroom_policy_decision_seconds",
    "Time to decide one command",
    buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
)
DESK_QUESTIONS = Counter(
    "opsroom_desk_questions_total",
    "Help-desk questions by outcome: suggested, no_match, solved, escalated, dismissed "
    "(deflection rate = solved / (solved + escalated))",
    ["outcome"],
)
LEADER = Gauge("opsroom_leader", "1 on the replica that holds the named leader lease (cluster mode)", ["name"])


@functools.lru_cache(maxsize=4096)
def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per label set: ``labels`` checks the values
    and takes a lock on every call, and the engine counts each command two to four times.
    The child it returns is the one ``labels`` keeps (nothing here removes children)."""
    return metric.labels(*values)


def exposition() -> tuple[bytes, str]:
    """The default registry in Prometheus' text format, and its content type."""
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(), CONTENT_TYPE_LATEST
