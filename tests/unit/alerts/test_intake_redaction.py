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
