"""The demo's seed alert: "payments API error rate above 2%", as an Alertmanager webhook body
(``opsroom demo alert`` posts it to the running server, so it takes the real intake path)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from opsroom.alerts.intake import alertmanager_payload


def demo_payload(now: dt.datetime, *, status: str = "firing") -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {
            "alertname": "PaymentsHighErrorRate",
            "service": "payments",
            "severity": "critical",
            "env": "prod",
        },
        "annotations": {
            "summary": "payments API error rate above 2%",
            "description": "5xx responses are 3.4% of payments API requests over the last 5 minutes (threshold 2%).",
            "runbook_url": "https://runbooks.example.com/payments/high-error-rate",
        },
        "startsAt": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.demo:9090/graph?g0.expr=payments_error_ratio+%3E+0.02",
        "fingerprint": "demo0payments0err",
    }
    return alertmanager_payload([alert], status=status)
