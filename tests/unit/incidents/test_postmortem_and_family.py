"""The postmortem draft (milestones with durations, one table row per timeline entry with
its audit link, cells that cannot break the table, commands run) and the family step that
reads `incident declare` as `incident-declare`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from opsroom.config.incidents import IncidentsConfig
from opsroom.engine.pipeline import StepContext
from opsroom.incidents import lifecycle
from opsroom.incidents.commands import family
from opsroom.incidents.postmortem import draft
from opsroom.incidents.store import Incident
from opsroom.incidents.timeline import Entry

T0 = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)
CONFIG = IncidentsConfig()


def incident() -> Incident:
    state = lifecycle.declare(CONFIG, "sev2", T0 + dt.timedelta(minutes=5), started_at=T0, lead="carol")
    state = lifecycle.change_status(CONFIG, state, "identified", T0 + dt.timedelta(minutes=12))
    state = lifecycle.change_status(CONFIG, state, "resolved", T0 + dt.timedelta(hours=1, minutes=30))
    return Incident(
        1,
        "inc-2026-12-03-1-payments",
        "Payments failing",
        "payments",
        "",
        "alice",
        "web",
        "inc-1-payments",
        "#inc-1-payments",
        None,
        "",
        state,
    )


def test_the_draft_has_milestones_timeline_and_commands() -> None:
    entries = [
        Entry(T0 + dt.timedelta(minutes=5), "declared", "alice", "declared sev2: Payments failing", 3),
        Entry(T0 + dt.timedelta(minutes=20), "command", "alice", "rollback payments v4.12.3 env=production", 14),
        Entry(T0 + dt.timedelta(minutes=21), "note", "bob", "a | pipe\nand a new line", 17),
    ]
    text = draft(incident(), entries, CONFIG)
    assert text.startswith("---\nid: postmortem-inc-2026-12-03-1-payments\n")
    assert "declared by alice; commander: carol." in text
    assert "| declared | 2026-12-03 14:05:00 | 5m00s |" in text
    assert "| acknowledged | 2026-12-03 14:12:00 | 12m00s |" in text
    assert "| resolved | 2026-12-03 15:30:00 | 1h30m |" in text
    row = "| 14:20:00 | command | alice | rollback payments v4.12.3 env=production | [#14](/console/audit?before=15) |"
    assert row in text
    assert "| 14:21:00 | note | bob | a \\| pipe and a new line | [#17](/console/audit?before=18) |" in text
    assert "- `rollback payments v4.12.3 env=production` — alice ([audit #14](/console/audit?before=15))" in text


def test_no_commands_says_none() -> None:
    assert "## Commands run\n\n- none\n" in draft(incident(), [], CONFIG)


class _Catalog:
    def get(self, name: str) -> Any:
        return object() if name in ("incident-declare", "runbook-start") else None


class _Services:
    catalog = _Catalog()


async def test_family_words_become_one_command_name() -> None:
    for typed, seen in (
        ('incident declare "x y" sev2', 'incident-declare "x y" sev2'),
        ("Incident Declare x sev1", "incident-declare x sev1"),
        ("runbook start payments-error-rate env=dev", "runbook-start payments-error-rate env=dev"),
        ("incident", "incident"),
        ("incident frobnicate", "incident frobnicate"),
        ("deploy payments staging", "deploy payments staging"),
    ):
        ctx = StepContext(typed, None, None, _Services())  # type: ignore[arg-type]
        assert await family(ctx) is None
        assert ctx.text == seen
