"""Parsing what Alertmanager, Grafana and arbitrary JSON senders POST."""

from __future__ import annotations

import datetime as dt

import pytest

from opsroom.alerts.intake import IntakeError, parse_alertmanager, parse_generic, parse_grafana, parse_time
from opsroom.config.alerts import GenericMapping

AM = {
    "version": "4",
    "groupKey": '{}:{alertname="X"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "opsroom",
    "groupLabels": {"alertname": "X"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:9093",
    "notification_reason": "new_alerts",
    "routeLabels": {"team": "pay"},
    "somethingFromTheFuture": {"x": [1]},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "X", "severity": "critical", "instance": "a:9100"},
            "annotations": {"summary": "X is down", "runbook_url": "https://rb/x"},
            "startsAt": "2025-03-03T12:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph",
            "fingerprint": "abc123",
            "unknownField": True,
        }
    ],
}


def test_alertmanager_v4_with_newer_fields_parses() -> None:
    [alert] = parse_alertmanager(AM, source="am")
    assert alert.fingerprint == "abc123"
    assert alert.status == "firing"
    assert alert.severity == "critical"
    assert alert.summary == "X is down"
    assert alert.runbook_url == "https://rb/x"
    assert alert.starts_at == dt.datetime(2025, 3, 3, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert alert.ends_at is None  # Go's zero time
    assert alert.external_url == "http://127.0.0.1:9093"
    assert alert.source_type == "alertmanager"


def test_missing_fingerprint_is_derived_from_labels_stably() -> None:
    payload = {
        "version": "4",
        "alerts": [{"labels": {"alertname": "X", "a": "1"}}, {"labels": {"a": "1", "alertname": "X"}}],
    }
    first, second = parse_alertmanager(payload)
    assert first.fingerprint == second.fingerprint and first.status == "firing"


@pytest.mark.parametrize(
    "payload, message",
    [
        ([], "JSON object"),
        ({"alerts": "nope"}, "'alerts' list"),
        ({"alerts": [1]}, "must be an object"),
        ({"alerts": [{"labels": {}}]}, "no labels"),
        ({"alerts": [{"labels": {"a": {"nested": 1}}}]}, "must be text"),
        ({"alerts": [{"labels": {"a": "x" * 3000}}]}, "longer than"),
        ({"alerts": [{"labels": {"a": "b"}, "startsAt": "yesterday"}]}, "RFC 3339"),
        ({"version": "99", "alerts": []}, "not supported"),
    ],
)
def test_bad_alertmanager_payloads_are_refused_with_a_reason(payload: object, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        parse_alertmanager(payload)


def test_long_annotations_are_truncated_not_refused() -> None:
    payload = {"alerts": [{"labels": {"alertname": "X"}, "annotations": {"description": "y" * 50_000}}]}
    [alert] = parse_alertmanager(payload)
    assert len(alert.description) == 10_000


def test_grafana_payload_keeps_dashboard_links() -> None:
    payload = {
        "receiver": "x",
        "status": "resolved",
        "orgId": 1,
        "title": "[RESOLVED] cpu",
        "state": "ok",
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "alerts": [
            {
                "status": "resolved",
                "labels": {"alertname": "cpu", "grafana_folder": "infra"},
                "annotations": {},
                "startsAt": "2025-03-03T12:00:00Z",
                "endsAt": "2025-03-03T12:05:00Z",
                "fingerprint": "f1",
                "dashboardURL": "http://grafana:3000/d/abc",
                "valueString": "[ var='B' value=93 ]",
                "silenceURL": "http://grafana:3000/alerting/silence/new",
            }
        ],
    }
    [alert] = parse_grafana(payload, source="grafana")
    assert alert.status == "resolved" and alert.source_type == "grafana"
    assert alert.annotations["dashboardURL"] == "http://grafana:3000/d/abc"
    assert alert.ends_at == dt.datetime(2025, 3, 3, 12, 5, tzinfo=dt.UTC)


def test_generic_mapping_reads_dotted_paths() -> None:
    mapping = GenericMapping(
        alerts="data.items",
        title="name",
        severity="level",
        status="state",
        labels="tags",
        fingerprint="id",
        runbook_url="links.runbook",
    )
    payload = {
        "data": {
            "items": [
                {
                    "name": "disk full",
                    "level": "WARNING",
                    "state": "open",
                    "tags": {"host": "db1"},
                    "id": "e-1",
                    "links": {"runbook": "https://rb/disk"},
                },
                {
                    "name": "disk full",
                    "level": "warning",
                    "state": "closed",
                    "tags": {"host": "db2"},
                    "id": "e-2",
                },
            ]
        }
    }
    first, second = parse_generic(payload, mapping, source="uptime")
    assert first.labels == {"host": "db1", "alertname": "disk full", "severity": "warning"}
    assert first.fingerprint == "e-1" and first.status == "firing"
    assert first.runbook_url == "https://rb/disk"
    assert second.status == "resolved"


def test_generic_without_title_is_refused() -> None:
    with pytest.raises(IntakeError, match="no title"):
        parse_generic({"severity": "x"}, GenericMapping(), source="s")


def test_parse_time_accepts_offsets() -> None:
    assert parse_time("2025-03-03T13:00:00+01:00") == dt.datetime(2025, 3, 3, 12, tzinfo=dt.UTC)
