"""Secrets that monitoring puts into an alert (a token in a probe URL, a password in an error
text) are masked before the alert is stored, so neither the alert tables nor anything read
from them (cards, /alerts, the console) can show them; dedup still sees one alert."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from tests.fakes.alert_fakes import FakeAudit, RecordingHub, fake_mint

from opsroom.alerts.model import Alert
from opsroom.alerts.service import AlertService
from opsroom.alerts.tables import alert_events, alert_groups, alerts
from opsroom.config.alerts import AlertsConfig
from opsroom.store import Database

GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS = "AKIA" + "QWERTYUIOPASDFGH"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PASSWORD = "hunter2-Very-Secret"


def _alert(fingerprint: str) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        status="firing",
        labels={"alertname": "ProbeFailed", "instance": f"https://ci:{GITHUB}@git.example.org/health"},
        annotations={
            "summary": f"login failed with password={PASSWORD}",
            "description": f"key {AWS} rejected; webhook token {SLACK}",
        },
        generator_url=f"https://prometheus.example.org/graph?token={GITHUB}",
    )


def _stored_text(db: Database) -> str:
    with db.read() as conn:
        rows = [
            *conn.execute(select(alerts)).all(),
            *conn.execute(select(alert_events)).all(),
            *conn.execute(select(alert_groups)).all(),
        ]
    return "\n".join(repr(tuple(row)) for row in rows)


def test_secrets_in_labels_annotations_and_urls_never_reach_the_alert_tables(db: Database) -> None:
    config = AlertsConfig.model_validate({"sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}}})
    service = AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())
    first = asyncio.run(service.ingest("am", [_alert("probe-1")]))
    again = asyncio.run(service.ingest("am", [_alert("probe-1")]))
    assert (first.new, again.new) == (1, 0)  # the same alert, still deduplicated
    text = _stored_text(db)
    assert "ProbeFailed" in text and "[REDACTED]" in text
    for secret in (GITHUB, AWS, SLACK, PASSWORD):
        assert secret not in text


def test_a_batch_is_masked_alert_by_alert_wherever_its_one_secret_is() -> None:
    """Intake asks the redactor once per distinct text of a batch: a secret in any single
    place (a label's name or value, an annotation, a URL) of one alert among clean ones is
    still masked there, and a clean batch is stored as it came."""
    from dataclasses import replace

    from opsroom.alerts.ingest import redacted
    from opsroom.policy.redaction import Redactor

    redactor = Redactor()
    clean = [
        Alert(fingerprint=f"f{i}", status="firing", labels={"alertname": f"A{i}", "job": "node"}, annotations={})
        for i in range(20)
    ]
    assert redacted(clean, redactor) is clean
    places = [
        lambda a: replace(a, labels={**a.labels, GITHUB: "x"}),
        lambda a: replace(a, labels={**a.labels, "instance": AWS}),
        lambda a: replace(a, annotations={"summary": f"password={PASSWORD}"}),
        lambda a: replace(a, annotations={f"token {SLACK}": "x"}),
        lambda a: replace(a, generator_url=f"https://p/graph?token={GITHUB}"),
        lambda a: replace(a, external_url=f"https://ci:{PASSWORD}@am.example.org"),
    ]
    for put in places:
        batch = [*clean[:7], put(clean[7]), *clean[8:]]
        out = redacted(batch, redactor)
        assert list(out[:7]) == clean[:7] and list(out[8:]) == clean[8:]
        text = repr(out[7])
        assert "[REDACTED]" in text and out[7].fingerprint == "f7"
        for secret in (GITHUB, AWS, SLACK, PASSWORD):
            assert secret not in text


async def test_secrets_posted_to_the_webhook_are_masked_before_they_are_stored(db: Database) -> None:
    """The webhook masks on its parse thread (``redact_ahead``), for the common Alertmanager
    body and for a body the general parser takes (an unknown field); either way nothing
    secret reaches the tables."""
    import httpx
    from starlette.applications import Starlette

    from opsroom.alerts.http import routes

    config = AlertsConfig.model_validate({"sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}}})
    service = AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())
    app = Starlette(routes=routes(service, env={"AM_TOKEN": "tok-en-value"}))
    raw = {
        "status": "firing",
        "labels": {"alertname": "ProbeFailed", "instance": f"https://ci:{GITHUB}@git.example.org/health"},
        "annotations": {"summary": f"login failed with password={PASSWORD}", "description": f"key {AWS}"},
        "generatorURL": f"https://prometheus.example.org/graph?token={SLACK}",
        "fingerprint": "probe-1",
    }
    fast = {"version": "4", "status": "firing", "alerts": [raw]}
    general = {**fast, "alerts": [{**raw, "fingerprint": "probe-2", "unknownField": 1}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for body in (fast, general):
            response = await client.post(
                "/hooks/alertmanager/am", json=body, headers={"Authorization": "Bearer tok-en-value"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["new"] == 1
    text = _stored_text(db)
    assert text.count("ProbeFailed") >= 2 and "[REDACTED]" in text
    for secret in (GITHUB, AWS, SLACK, PASSWORD):
        assert secret not in text


def test_a_batch_masked_by_another_redactor_is_masked_again_when_stored(db: Database) -> None:
    """``redact_ahead`` marks a batch with the redactor that masked it; if the redactor in
    force changed since (secrets reloaded), storing masks it again with the new one."""
    from opsroom.alerts.ingest import redact_ahead
    from opsroom.policy import redaction
    from opsroom.policy.redaction import Redactor

    config = AlertsConfig.model_validate({"sources": {"am": {"type": "alertmanager", "token_env": "AM_TOKEN"}}})
    service = AlertService(config, db, RecordingHub(), mint=fake_mint, audit_append=FakeAudit())
    site_secret = "corp-db-passphrase-42"
    alert = Alert(fingerprint="f1", status="firing", labels={"alertname": "DbDown", "note": site_secret})
    before = redaction.current()
    ahead = redact_ahead([alert])  # the old redactor does not know the site's secret
    assert site_secret in repr(list(ahead))
    redaction.install(Redactor(secret_values=[site_secret]))
    try:
        asyncio.run(service.ingest("am", ahead))
    finally:
        redaction.install(before)
    text = _stored_text(db)
    assert "DbDown" in text and site_secret not in text
