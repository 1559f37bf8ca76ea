"""Anti-fatigue: the per-channel budget and storm digest, flapping, scheduled digests,
muting, and `/alerts noise`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from tests.fakes.alert_fakes import FakeAudit, FakeClock, RecordingHub, fake_mint

from opsroom.alerts.budget import ChannelBudget
from opsroom.alerts.commands import noise_report
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alerts as alerts_table
from opsroom.config.alerts import AlertsConfig
from opsroom.store import Database


def make(db: Database, **cfg: Any) -> tuple[AlertService, RecordingHub, FakeClock, FakeAudit]:
    hub, clock, audit = RecordingHub(), FakeClock(), FakeAudit()
    base: dict[str, Any] = {
        "grouping": {
            "group_by": ["alertname"],
            "group_wait": 0,
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "budget": {"max_messages": 3, "window": "10m"},
        "flapping": {"max_changes": 4, "window": "30m"},
    }
    base.update(cfg)
    config = AlertsConfig.model_validate(base)
    return AlertService(config, db, hub, mint=fake_mint, audit_append=audit, clock=clock), hub, clock, audit


def alert(name: str, status: str = "firing", severity: str = "critical", **labels: str) -> Alert:
    return Alert(
        fingerprint=name,
        status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "severity": severity, **labels},
        annotations={"summary": f"{name} summary"},
        source="am",
        source_type="alertmanager",
    )


def test_budget_window_slides() -> None:
    budget = ChannelBudget(2, 60)
    assert budget.take("#a", 0) and budget.take("#a", 1)
    assert not budget.take("#a", 2)
    assert budget.take("#b", 2)  # per channel
    assert budget.take("#a", 61)


async def test_storm_collapses_into_one_digest_and_keeps_every_alert(db: Database) -> None:
    svc, hub, clock, audit = make(db)
    await svc.ingest("am", [alert(f"A{i}") for i in range(40)])
    await svc.tick()
    top = hub.top_level("#alerts")
    assert len(top) == 4  # 3 groups within budget + 1 digest
    digest = top[-1]
    assert "Alert storm in #alerts" in digest.message.text
    assert "37 more group(s)" in digest.message.text
    # More groups during the storm: the same digest is edited (throttled), no new posts.
    await svc.ingest("am", [alert(f"B{i}") for i in range(10)])
    clock.advance(3)
    await svc.tick()
    assert len(hub.top_level("#alerts")) == 4
    assert "47 more group(s)" in digest.current.text
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(alerts_table)).scalar_one() == 50
    collapsed = [e for e in audit.entries if e["action"] == "alert.route"]
    assert sum(e["detail"].get("count", 1) for e in collapsed) == 47  # every collapse is audited
    assert len(collapsed) < 47  # in bulk once the budget is known to be spent
    # After the window the channel gets live posts again.
    clock.advance(600)
    await svc.ingest("am", [alert("Later")])
    await svc.tick()
    assert hub.top_level("#alerts")[-1].message.text.startswith("[FIRING:1] Later")


async def test_budget_is_per_channel(db: Database) -> None:
    svc, hub, _, _ = make(db, routes=[{"match": {"team": "b"}, "channels": ["#b"]}])
    await svc.ingest("am", [alert(f"A{i}") for i in range(5)] + [alert(f"B{i}", team="b") for i in range(2)])
    await svc.tick()
    assert len(hub.top_level("#alerts")) == 4
    assert len(hub.top_level("#b")) == 2


async def test_flapping_alert_is_held_and_shown_as_flapping(db: Database) -> None:
    svc, hub, clock, _ = make(db)
    await svc.ingest("am", [alert("Flappy")])
    await svc.tick()
    post = hub.posts[0]
    for i in range(10):
        clock.advance(61)
        await svc.ingest("am", [alert("Flappy", status="resolved" if i % 2 == 0 else "firing")])
        await svc.tick()
    assert len(hub.top_level()) == 1  # never re-posted
    notes = [p.message.as_text() for p in hub.thread(post.ref)]
    assert sum("flapping" in n for n in notes) == 1  # announced once, then held
    assert len(notes) <= 4
    assert "flapping" in post.current.as_text()
    # It settles: after a quiet window the real state shows again.
    clock.advance(31 * 60)
    await svc.ingest("am", [alert("Flappy", status="resolved")])
    clock.advance(61)
    await svc.tick()
    assert post.current.text.startswith("[RESOLVED]")
    assert "settled (resolved)" in hub.thread(post.ref)[-1].message.as_text()


async def test_low_severity_goes_to_the_scheduled_digest(db: Database) -> None:
    svc, hub, clock, audit = make(db, digest={"severities": ["info"], "interval": "1h"})
    await svc.tick()  # starts the digest clock
    await svc.ingest("am", [alert("Cert30d", severity="info"), alert("Cert29d", severity="info")])
    await svc.ingest("am", [alert("Down", severity="critical")])
    await svc.tick()
    assert [p.message.text.split("]")[0] for p in hub.top_level()] == ["[FIRING:1"]
    clock.advance(3601)
    await svc.tick()
    digest = hub.top_level()[-1]
    assert "Alert digest for #alerts" in digest.message.text and "2 low-severity" in digest.message.text
    assert "Cert30d" in digest.message.as_text()
    assert "alert.digest" in audit.actions()
    clock.advance(3601)
    await svc.tick()
    assert len(hub.top_level()) == 2  # nothing new: no empty digest


async def test_route_can_send_everything_to_the_scheduled_digest(db: Database) -> None:
    svc, hub, clock, _ = make(db, routes=[{"match": {"team": "x"}, "channels": ["#x"], "scheduled_digest": True}])
    await svc.ingest("am", [alert("Crit", team="x")])
    await svc.tick()
    assert hub.posts == []
    await svc.send_scheduled_digests()
    assert "Crit" in hub.posts[0].message.as_text()


async def test_noise_report_counts_firings_per_channel_over_7_days(db: Database) -> None:
    svc, _, clock, _ = make(db, routes=[{"match": {"team": "b"}, "channels": ["#b"]}])
    for _ in range(3):
        await svc.ingest("am", [alert("Noisy"), alert("Quiet", team="b")])
        clock.advance(120)
        await svc.ingest("am", [alert("Noisy", status="resolved")])
        await svc.tick()
        clock.advance(120)
    await svc.ingest("am", [alert("Noisy")])
    report = noise_report(svc).as_text()
    assert "*#alerts* — 4 firing(s)" in report and "4× Noisy (1 series, 3 resolutions)" in report
    assert "1× Quiet" in report
    assert noise_report(svc, channel="#b").as_text().count("×") == 1
    clock.advance(8 * 86400)
    assert "No alerts in the last 7 days" in noise_report(svc).text
