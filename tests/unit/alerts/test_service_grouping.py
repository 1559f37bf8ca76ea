"""Dedup, grouping timers and edits in place, through the real store on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.alert_fakes import FakeAudit, FakeClock, RecordingHub, fake_mint, unmint

from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Principal
from opsroom.store import Database


def make(db: Database, **cfg: Any) -> tuple[AlertService, RecordingHub, FakeClock, FakeAudit]:
    hub, clock, audit = RecordingHub(), FakeClock(), FakeAudit()
    config = AlertsConfig.model_validate(
        {
            "grouping": {
                "group_by": ["alertname"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            **cfg,
        }
    )
    return AlertService(config, db, hub, mint=fake_mint, audit_append=audit, clock=clock), hub, clock, audit


def alert(name: str = "HighErrors", status: str = "firing", instance: str = "a", **labels: str) -> Alert:
    return Alert(
        fingerprint=f"{name}-{instance}",
        status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "instance": instance, "severity": "critical", **labels},
        annotations={"summary": f"{name} on {instance}"},
        source="am",
        source_type="alertmanager",
    )


async def test_group_waits_then_posts_one_message_for_alerts_that_fire_together(db: Database) -> None:
    svc, hub, clock, audit = make(db)
    await svc.ingest("am", [alert(instance="a")])
    clock.advance(10)
    await svc.ingest("am", [alert(instance="b"), alert(instance="a")])  # a is a duplicate
    await svc.tick()
    assert hub.posts == []  # still inside group_wait
    clock.advance(21)
    await svc.tick()
    assert len(hub.posts) == 1
    msg = hub.posts[0].message
    assert msg.text.startswith("[FIRING:2] HighErrors")
    assert {b.label for b in msg.buttons()} >= {"Ack", "Silence 1h", "Silence 4h"}
    assert "alert.notify" in audit.actions()


async def test_changes_edit_the_message_and_go_to_its_thread_never_top_level(db: Database) -> None:
    svc, hub, clock, _ = make(db, flapping={"max_changes": 10})
    await svc.ingest("am", [alert(instance="a")])
    clock.advance(30)
    await svc.tick()
    first = hub.posts[0]
    await svc.ingest("am", [alert(instance="b")])
    clock.advance(60)
    await svc.tick()
    assert first.edits == []  # group_interval (5m) not over yet
    clock.advance(240)
    await svc.tick()
    assert first.current.text.startswith("[FIRING:2]")
    thread = hub.thread(first.ref)
    assert len(thread) == 1 and "new: HighErrors on b" in thread[0].message.as_text()
    await svc.ingest("am", [alert(instance="a", status="resolved"), alert(instance="b", status="resolved")])
    clock.advance(300)
    await svc.tick()
    assert first.current.text.startswith("[RESOLVED]")
    assert first.current.tone == "success"
    assert not any(b.label == "Ack" for b in first.current.buttons())
    assert len(hub.top_level()) == 1
    assert "resolved: HighErrors on a" in hub.thread(first.ref)[-1].message.as_text()
    # Fires again soon after (within flapping.window): the same message goes back to firing.
    clock.advance(60)
    await svc.ingest("am", [alert(instance="a")])
    clock.advance(300)
    await svc.tick()
    assert len(hub.top_level()) == 1
    assert first.current.text.startswith("[FIRING:1]")
    assert "firing again: HighErrors on a" in hub.thread(first.ref)[-1].message.as_text()
    # Resolved, then firing again much later: a fresh message, not an edit of the old one.
    await svc.ingest("am", [alert(instance="a", status="resolved")])
    clock.advance(300)
    await svc.tick()
    assert first.current.text.startswith("[RESOLVED]")
    clock.advance(3600)
    await svc.ingest("am", [alert(instance="a")])
    clock.advance(30)
    await svc.tick()
    assert len(hub.top_level()) == 2


async def test_same_fingerprint_resent_is_deduplicated(db: Database) -> None:
    svc, hub, clock, _ = make(db)
    for _ in range(5):
        result = await svc.ingest("am", [alert()])
    assert result.new == 0 and result.changed == 0
    clock.advance(30)
    await svc.tick()
    clock.advance(600)
    await svc.tick()
    assert len(hub.posts) == 1 and hub.posts[0].edits == []


async def test_repeat_interval_reminds_in_thread_until_acked(db: Database) -> None:
    svc, hub, clock, audit = make(db)
    await svc.ingest("am", [alert()])
    clock.advance(30)
    await svc.tick()
    post = hub.posts[0]
    clock.advance(4 * 3600)
    await svc.tick()
    assert "still firing" in hub.thread(post.ref)[-1].message.as_text()
    ack = next(b for b in post.current.buttons() if b.label == "Ack")
    kind, payload = unmint(ack.action_id)
    reply = await svc.handle_action(kind, payload, Principal("alice"), post.place)
    assert reply is not None and "Acked" in reply.text
    assert "acked by alice" in post.current.as_text()
    assert "alert.ack" in audit.actions()
    before = len(hub.posts)
    clock.advance(8 * 3600)
    await svc.tick()
    assert len(hub.posts) == before  # no more reminders


async def test_resolved_before_group_wait_is_never_posted(db: Database) -> None:
    svc, hub, clock, _ = make(db)
    await svc.ingest("am", [alert()])
    clock.advance(5)
    await svc.ingest("am", [alert(status="resolved")])
    clock.advance(60)
    await svc.tick()
    assert hub.posts == []


async def test_resolved_alert_for_unknown_group_is_ignored(db: Database) -> None:
    svc, hub, clock, _ = make(db)
    result = await svc.ingest("am", [alert(status="resolved")])
    assert result.ignored == 1
    clock.advance(60)
    await svc.tick()
    assert hub.posts == []


async def test_chat_failure_is_retried_later(db: Database) -> None:
    svc, hub, clock, _ = make(db)
    await svc.ingest("am", [alert()])
    hub.fail = True
    clock.advance(30)
    await svc.tick()
    hub.fail = False
    clock.advance(10)
    await svc.tick()
    assert hub.posts == []
    clock.advance(25)
    await svc.tick()
    assert len(hub.posts) == 1


@pytest.mark.parametrize("group_by", [["alertname"], ["alertname", "instance"]])
async def test_group_by_labels_decides_messages(db: Database, group_by: list[str]) -> None:
    svc, hub, clock, _ = make(db, grouping={"group_by": group_by, "group_wait": 0})
    await svc.ingest("am", [alert(instance="a"), alert(instance="b")])
    await svc.tick()
    assert len(hub.posts) == (1 if group_by == ["alertname"] else 2)


async def test_groups_changed_in_one_batch_keep_their_own_group_wait(db: Database) -> None:
    """Each group is posted group_wait after its own creation, also when one batch changes
    groups created at different times (their due times are worked out per creation time)."""
    svc, hub, clock, _ = make(db)
    await svc.ingest("am", [alert("First")])
    clock.advance(20)
    await svc.ingest("am", [alert("Second")])
    clock.advance(5)
    await svc.ingest("am", [alert("First", instance="b"), alert("Second", instance="b")])
    clock.advance(6)  # 31 s after First, 11 s after Second
    await svc.tick()
    assert [p.message.text.split("\n")[0] for p in hub.posts] == ["[FIRING:2] First on a"]
    clock.advance(20)
    await svc.tick()
    assert [p.message.text.split("\n")[0] for p in hub.posts] == ["[FIRING:2] First on a", "[FIRING:2] Second on a"]


async def test_groups_created_together_are_each_marked_by_their_own_alerts(db: Database) -> None:
    """Groups created in one batch read alike (same times, same delivery); a later batch that
    resolves all of one group's alerts and only part of the other's leaves the first resolved
    and the second firing (what intake sets is decided per reading, never shared wrongly)."""
    from sqlalchemy import select

    from opsroom.alerts.tables import alert_groups

    svc, hub, clock, _ = make(db)
    await svc.ingest("am", [alert("First"), alert("First", instance="b"), alert("Second"), alert("Third")])
    clock.advance(5)
    await svc.ingest(
        "am", [alert("First", status="resolved"), alert("Second", status="resolved"), alert("Third", instance="b")]
    )
    with db.read() as conn:
        rows = conn.execute(select(alert_groups.c.title, alert_groups.c.status, alert_groups.c.dirty)).all()
    assert sorted(rows) == [
        ("First on a", "firing", True),
        ("Second on a", "resolved", True),
        ("Third on a", "firing", True),
    ]
    clock.advance(26)
    await svc.tick()
    assert sorted(p.message.text.split("\n")[0] for p in hub.posts) == [
        "[FIRING:1] First on a",
        "[FIRING:2] Third on a",
    ]
