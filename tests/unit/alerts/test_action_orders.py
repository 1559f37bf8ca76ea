"""Every order of ack / silence / resolve / re-fire: whatever people did to a group, when its
alerts resolve its card says RESOLVED and ``/alerts all`` stops listing it; when they fire
again it is back on both. (Issue: a silenced group that resolved stayed FIRING.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from tests.unit.alerts.test_actions import PLACE, alert, make

from opsroom.alerts.commands import ALERT_COMMANDS, HANDLERS
from opsroom.core import Invocation, Principal
from opsroom.store import Database

BOB = Principal("bob")


async def listed(svc: Any) -> str:
    spec = next(s for s in ALERT_COMMANDS if s.name == "alerts")
    inv = Invocation(command=spec, args={"scope": "all"}, raw_text="alerts all", principal=BOB, place=PLACE)
    return (await HANDLERS["alerts"](svc, inv)).as_text()


async def settle(t: dict[str, Any]) -> None:
    t["clock"].advance(120)  # past group_interval (1m)
    await t["svc"].tick()


async def do(t: dict[str, Any], step: str, source_type: str) -> None:
    svc = t["svc"]
    if step == "ack":
        await svc.ack("PaymentsDown", BOB, PLACE)
    elif step == "silence":
        await svc.silence("PaymentsDown", 3600, BOB, PLACE)
    elif step in ("resolve", "re-fire"):
        status = "resolved" if step == "resolve" else "firing"
        t["am"].active = [] if step == "resolve" else ["PaymentsDown"]  # what Alertmanager holds
        await svc.ingest("am", [alert(status=status, source_type=source_type)])
    await settle(t)


ORDERS = [o for o in itertools.permutations(["ack", "silence", "resolve"])] + [
    ("silence", "resolve", "re-fire", "resolve"),
    ("ack", "resolve", "re-fire", "resolve"),
    ("silence", "ack", "resolve", "re-fire"),
    ("resolve", "re-fire", "silence", "resolve"),
]


@pytest.mark.parametrize("source_type", ["alertmanager", "generic"])
@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
async def test_card_and_list_follow_the_alert_whatever_was_done(
    db: Database, order: tuple[str, ...], source_type: str
) -> None:
    source: dict[str, Any] = {"type": source_type, "token_env": "X"}
    if source_type == "generic":
        source["mapping"] = {}
    # Flapping (4 changes in 30 min by default) is its own feature, tested in test_noise.
    t = make(db, sources={"am": source}, flapping={"max_changes": 10})
    t["am"].active = ["PaymentsDown"]
    await t["svc"].ingest("am", [alert(source_type=source_type)])
    await t["svc"].tick()
    card = t["hub"].top_level()[0]
    firing = True
    for step in order:
        if step in ("ack", "silence") and not firing:
            continue  # nothing open to act on: a resolved group is closed
        await do(t, step, source_type)
        if step in ("resolve", "re-fire"):
            firing = step == "re-fire"
        cards = t["hub"].top_level()
        shown = cards[-1].current.text
        if firing:
            assert shown.startswith("[FIRING"), (step, shown)
            assert "PaymentsDown" in await listed(t["svc"])
        else:
            assert shown.startswith("[RESOLVED]"), (step, shown)
            assert "Nothing is firing" in await listed(t["svc"])
    assert cards[0] is card


async def test_group_silenced_in_alertmanager_resolves_when_alertmanager_drops_its_alerts(
    db: Database,
) -> None:
    """Alertmanager sends nothing about silenced alerts, not even their resolution: opsroom
    asks it (GET /api/v2/alerts with the silence's matchers) every ``silenced_poll``."""
    t = make(db, silenced_poll="1m")
    svc, am = t["svc"], t["am"]
    await svc.ingest("am", [alert(instance="a"), alert(instance="b")])
    await svc.tick()
    await svc.silence("PaymentsDown", 3600, BOB, PLACE)
    am.active = ["PaymentsDowna", "PaymentsDownb"]
    await settle(t)
    card = t["hub"].top_level()[0]
    assert card.current.text.startswith("[FIRING:2]")
    asked = am.alert_queries[-1]
    assert asked.get_list("filter") == ['alertname="PaymentsDown"'] and asked["silenced"] == "true"
    am.active = ["PaymentsDownb"]  # a resolved; Alertmanager told nobody
    await settle(t)
    assert card.current.text.startswith("[FIRING:1]")
    am.active = []
    queries = len(am.alert_queries)
    await svc.tick()  # not due yet: no new question
    assert len(am.alert_queries) == queries
    await settle(t)
    assert card.current.text.startswith("[RESOLVED]")
    assert "Nothing is firing" in await listed(svc)
    assert t["audit"].entries[-1]["action"] != "alert.silence"
