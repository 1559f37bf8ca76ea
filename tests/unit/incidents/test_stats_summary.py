"""``incident stats`` medians; the statistics module is imported when they are asked for, not
by a server that starts (≈ 0.1 MiB it would keep)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, cast

from opsroom.incidents.stats import summary


def _incident(severity: str, acknowledged_after: float) -> Any:
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    milestones = {"acknowledged": start + dt.timedelta(seconds=acknowledged_after)}
    return SimpleNamespace(state=SimpleNamespace(severity=severity, started_at=start, milestones=milestones))


def test_stats_show_the_median_time_to_each_milestone() -> None:
    found = [_incident("sev1", 60), _incident("sev2", 180), _incident("sev2", 600)]
    text = cast(Any, summary(found, 30 * 86400)).as_text()
    assert "incidents" in text and "sev1: 1, sev2: 2" in text
    assert "median 3m" in text and "(n=3)" in text, text


def test_a_starting_server_does_not_import_statistics() -> None:
    code = "import sys, opsroom.app, opsroom.web.app, opsroom.incidents.stats; print('statistics' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
