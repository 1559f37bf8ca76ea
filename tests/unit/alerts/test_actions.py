"""Acting on alerts: silence (Alertmanager or opsroom-side), unsilence, runbook, diagnostic
buttons, escalation to on-call, and the chat commands."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.fakes.alert_fakes import FakeAudit, FakeClock, RecordingHub, fake_mint, unmint

from opsroom.alerts.commands import ALERT_COMMANDS, HANDLERS
from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertError, AlertService
from opsroom.config.alerts import AlertsConfig
from opsroom.config.oncall import OncallConfig
from opsroom.core import Invocation, Place, Principal
from opsroom.integrations.oncall import OnCall
from opsroom.store import Database

ALICE, BOB = Principal("alice"), Principal("bob")
PLACE = Place("web", "#alerts", channel_name="#alerts")


class FakeAlertmanager:
    def __init__(self) -> None:
        self.silences: dict[str, dict[str, Any]] = {}
        self.expired: list[str] = []
        self.active: list[str] = []  # fingerprints GET /api/v2/alerts reports
        self.alert_queries: list[httpx.QueryParams] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "127.0.0.1"
        if request.method == "POST" and request.url.path == "/api/v2/silences":
            sid = f"sil-{len(self.silences) + 1}"
            self.silences[sid] = json.loads(request.content)
            return httpx.Response(200, json={"silenceID": sid})
        if request.method == "GET" and request.url.path == "/api/v2/alerts":
            self.alert_queries.append(request.url.params)
            return httpx.Response(
                200, json=[{"fingerprint": fp, "status": {"state": "suppressed"}} for fp in self.active]
            )
        if request.method == "DELETE" and request.url.path.startswith("/api/v2/silence/"):
            self.expired.append(request.url.path.rsplit("/", 1)[1])
            return httpx.Response(200)
        return httpx.Response(404, text="not found")


def make(db: Database, oncall: dict[str, Any] | None = None, **cfg: Any) -> dict[str, Any]:
    hub, clock, audit, am = RecordingHub(), FakeClock(), FakeAudit(), FakeAlertmanager()
    base: dict[str, Any] = {
        "grouping": {"group_wait": 0, "group_interval": "1m"},
        "sources": {"am": {"type": "alertmanager", "token_env": "X"}},
    }
    base.update(cfg)
    http = httpx.AsyncClient(transport=httpx.MockTransport(am))
    svc = AlertService(
        AlertsConfig.model_validate(base),
        db,
        hub,
        mint=fake_mint,
        audit_append=audit,
        clock=clock,
        http=http,
        oncall=OnCall(OncallConfig.model_validate(oncall)) if oncall else None,
    )
    return {"svc": svc, "hub": hub, "clock": clock, "audit": audit, "am": am}


def alert(
    name: str = "PaymentsDown", status: str = "firing", source_type: str = "alertmanager", **labels: str
) -> Alert:
    return Alert(
        fingerprint=name + labels.get("instance", ""),
        status=status,  # type: ignore[arg-type]
        labels={"alertname": name, "severity": "critical", "service": "payments", **labels},
        annotations={"summary": f"{name}!", "runbook_url": "https://rb.example/p"},
        source="am",
        source_type=source_type,
        external_url="http://127.0.0.1:9093",
    )


def button(post: Any, label: str) -> tuple[str, dict[str, Any]]:
    found = next(b for b in post.current.buttons() if b.label == label)
    return unmint(found.action_id)


async def test_silence_button_creates_an_alertmanager_silence(db: Database) -> None:
    t = make(db)
    await t["svc"].ingest("am", [alert()])
    await t["svc"].tick()
    post = t["hub"].posts[0]
    assert next(b for b in post.current.buttons() if b.label == "Runbook").url == "https://rb.example/p"
    kind, payload = button(post, "Silence 4h")
    reply = await t["svc"].handle_action(kind, payload, BOB, PLACE)
    assert reply is not None and "Alertmanager silence `sil-1`" in reply.text
    body = t["am"].silences["sil-1"]
    assert body["matchers"] == [{"name": "alertname", "value": "PaymentsDown", "isRegex": False, "isEqual": True}]
    assert body["createdBy"] == "bob"
    assert "silenced until" in post.current.as_text()
    assert not any(b.label.startswith("Silence") for b in post.current.buttons())
    assert "Silenced by bob for 4h" in t["hub"].thread(post.ref)[-1].message.as_text()
    assert t["audit"].entries[-1]["action"] == "alert.silence"
    assert t["audit"].entries[-1]["detail"]["alertmanager_id"] == "sil-1"
    # Lifting it expires it in Alertmanager too.
    silence_id = reply.text.split("/unsilence ")[1].rstrip(".")
    await t["svc"].unsilence(silence_id, BOB, PLACE)
    assert t["am"].expired == ["sil-1"]
    assert "alert.unsilence" in t["audit"].actions()


async def test_alertmanager_refusal_changes_nothing(db: Database) -> None:
    t = make(
        db,
        sources={"am": {"type": "alertmanager", "token_env": "X", "alertmanager_url": "http://127.0.0.1:9/broken"}},
    )
    await t["svc"].ingest("am", [alert()])
    await t["svc"].tick()
    reply = await t["svc"].silence(1, 3600, BOB, PLACE)
    assert reply.tone == "failure" and "Could not silence" in reply.text
    assert "alert.silence" not in t["audit"].actions()
    assert "silenced" not in t["hub"].posts[0].current.as_text()


async def test_non_alertmanager_alerts_get_an_opsroom_mute(db: Database) -> None:
    t = make(db, sources={"up": {"type": "generic", "token_env": "X", "mapping": {}}})
    svc, hub, clock = t["svc"], t["hub"], t["clock"]
    await svc.ingest("up", [alert(source_type="generic", instance="a")])
    await svc.tick()
    reply = await svc.silence("PaymentsDown", 3600, ALICE, PLACE)
    assert "muted by opsroom" in reply.text and t["am"].silences == {}
    # A new alert matching the mute joins muted: no new notification.
    await svc.ingest("up", [alert(source_type="generic", instance="b")])
    clock.advance(120)
    await svc.tick()
    assert hub.thread(hub.posts[0].ref)[-1].message.as_text().startswith("🔕 Silenced")
    # When the mute runs out the alert shows again.
    clock.advance(3600)
    await svc.tick()
    await svc.ingest("up", [alert(source_type="generic", instance="b")])
    clock.advance(120)
    await svc.tick()
    assert "new: PaymentsDown!" in hub.thread(hub.posts[0].ref)[-1].message.as_text()


@pytest.mark.parametrize("seconds", [0, 30, 10 * 86400])
async def test_silence_duration_is_bounded(db: Database, seconds: int) -> None:
    t = make(db)
    await t["svc"].ingest("am", [alert()])
    with pytest.raises(AlertError, match="from 1m"):
        await t["svc"].silence(1, seconds, BOB, PLACE)


async def test_unknown_group_is_a_clear_refusal(db: Database) -> None:
    t = make(db)
    reply = await t["svc"].handle_action("alert.ack", {"group": 999}, BOB, PLACE)
    assert reply is not None and "no alert group 999" in reply.text


async def test_local_runbook_stays_inside_its_directory(db: Database, tmp_path: Any) -> None:
    (tmp_path / "payments.md").write_text("1. check the dashboard")
    (tmp_path.parent / "secret.txt").write_text("nope")
    t = make(db, runbooks_dir=str(tmp_path))
    assert "check the dashboard" in t["svc"].runbook("payments.md").as_text()
    for name in ("../secret.txt", "/etc/passwd", "missing.md"):
        with pytest.raises(AlertError):
            t["svc"].runbook(name)


async def test_diagnostic_buttons_mint_commands_only_from_plain_label_values(db: Database) -> None:
    t = make(
        db,
        diagnostics=[
            {"label": "Logs", "command": "logs {service}"},
            {"label": "Pod", "command": "describe {pod}"},
        ],
    )
    await t["svc"].ingest("am", [alert(), alert("Evil", service="x; rm -rf /")])
    await t["svc"].tick()
    by_title = {p.message.text: p for p in t["hub"].top_level()}
    ok = by_title["[FIRING:1] PaymentsDown!"]
    assert button(ok, "Logs") == ("command.run", {"text": "logs payments"})
    assert not any(b.label == "Pod" for b in ok.current.buttons())  # no pod label
    evil = by_title["[FIRING:1] Evil!"]
    assert not any(b.label == "Logs" for b in evil.current.buttons())


ONCALL = {
    "schedules": {
        "primary": {
            "layers": [
                {
                    "members": ["alice", "bob"],
                    "shift": "1d",
                    "handoff": "09:00",
                    "timezone": "UTC",
                    "start": "2025-03-03",
                }
            ]
        },
        "secondary": {"layers": [{"members": ["carol"], "shift": "7d"}]},
    },
    "escalations": {
        "payments": {
            "steps": [
                {"after": "5m", "notify": ["oncall:primary"]},
                {"after": "10m", "notify": ["oncall:secondary"], "dm": True},
            ],
            "repeat": 1,
        }
    },
}


async def test_escalation_chain_until_ack_every_step_audited(db: Database) -> None:
    t = make(
        db,
        oncall=ONCALL,
        routes=[
            {
                "match": {"service": "payments"},
                "channels": ["#payments"],
                "mention": {"critical": ["oncall:primary"]},
                "escalation": "payments",
            }
        ],
    )
    svc, hub, clock, audit = t["svc"], t["hub"], t["clock"], t["audit"]
    await svc.ingest("am", [alert()])
    await svc.tick()
    post = hub.posts[0]
    assert [p.name for p in post.message.mentions] == ["alice"]  # 12:00 UTC on 2025-03-03: alice
    clock.advance(5 * 60)
    await svc.tick()
    step1 = hub.thread(post.ref)[-1].message
    assert [p.name for p in step1.mentions] == ["alice"] and "level 1/2" in step1.text
    clock.advance(10 * 60)
    await svc.tick()
    step2 = hub.thread(post.ref)[-1].message
    assert [p.name for p in step2.mentions] == ["carol"] and "level 2/2" in step2.text
    assert any(p.place.is_direct and p.place.channel == "carol" for p in hub.posts)
    clock.advance(5 * 60)
    await svc.tick()
    assert "round 2" in hub.thread(post.ref)[-1].message.text
    await svc.ack(post.message.text and 1, BOB, PLACE)
    before = len(hub.posts)
    clock.advance(3600)
    await svc.tick()
    assert len(hub.posts) == before
    assert audit.actions().count("alert.escalate") == 3


async def test_escalation_runs_out_after_repeats(db: Database) -> None:
    t = make(db, oncall=ONCALL, routes=[{"match": {"service": "payments"}, "escalation": "payments"}])
    await t["svc"].ingest("am", [alert()])
    for _ in range(20):
        t["clock"].advance(5 * 60)
        await t["svc"].tick()
    assert t["audit"].actions().count("alert.escalate") == 4  # 2 steps × (1 + 1 repeat)


def invoke(name: str, principal: Principal = ALICE, **args: Any) -> Invocation:
    spec = next(c for c in ALERT_COMMANDS if c.name == name)
    return Invocation(command=spec, args=args, raw_text=name, principal=principal, place=PLACE)


async def test_commands_alerts_ack_silence_oncall(db: Database) -> None:
    t = make(db, oncall=ONCALL)
    svc = t["svc"]
    assert "Nothing is firing" in (await HANDLERS["alerts"](svc, invoke("alerts"))).text
    await svc.ingest("am", [alert()])
    await svc.tick()
    listing = (await HANDLERS["alerts"](svc, invoke("alerts", scope="all"))).as_text()
    assert "#1 [critical] *PaymentsDown!*" in listing
    assert "Acked group #1" in (await HANDLERS["ack"](svc, invoke("ack", group="1"))).text
    assert "already acked by alice" in (await HANDLERS["ack"](svc, invoke("ack", group="#1"))).text
    assert "no alert group nope" in (await HANDLERS["ack"](svc, invoke("ack", group="nope"))).text
    reply = await HANDLERS["silence"](svc, invoke("silence", target="PaymentsDown", duration=7200))
    assert "Silenced group #1 for 2h" in reply.text
    report = (await HANDLERS["oncall"](svc, invoke("oncall"))).as_text()
    assert "primary: *alice* now · next: bob from 2025-03-04 09:00 UTC" in report
    assert "secondary: *carol* now" in report
    reply = await HANDLERS["oncall"](
        svc, invoke("oncall", action="override", user="dave", duration="2h", schedule="primary")
    )
    assert "dave is on call for primary until 2025-03-03 14:00 UTC" in reply.text
    assert (
        "primary: *dave* now · next: alice from 2025-03-03 14:00 UTC"
        in (await HANDLERS["oncall"](svc, invoke("oncall", action="primary"))).as_text()
    )
    assert (
        "which schedule"
        in (await HANDLERS["oncall"](svc, invoke("oncall", action="override", user="x", duration="1h"))).text
    )
    assert "oncall.override" in t["audit"].actions()


async def test_query_answers_with_value_and_sparkline(db: Database) -> None:
    def prometheus(request: httpx.Request) -> httpx.Response:
        assert request.url.path in ("/api/v1/query", "/api/v1/query_range")
        if request.url.path == "/api/v1/query":
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {"job": "api"}, "value": [1, "0.034"]}],
                    },
                },
            )
        return httpx.Response(
            200,
            json={
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        {
                            "metric": {"job": "api"},
                            "values": [[i, str(v)] for i, v in enumerate([1, 2, 3, 8, 2])],
                        }
                    ],
                },
            },
        )

    t = make(db, prometheus_url="http://127.0.0.1:9090")
    t["svc"].http = httpx.AsyncClient(transport=httpx.MockTransport(prometheus))
    reply = await HANDLERS["query"](t["svc"], invoke("query", promql="rate(errors[5m])"))
    assert "job=api: *0.034*  ▁▂▃█▂" in reply.as_text()
    reply = await HANDLERS["query"](t["svc"], invoke("query", promql="   "))
    assert "give a PromQL expression" in reply.text
