"""Routes: ordered matchers, continue, default route, mentions per severity."""

from __future__ import annotations

from opsroom.alerts.routing import Router
from opsroom.config.alerts import AlertsConfig

CFG = AlertsConfig.model_validate(
    {
        "default_channel": "#alerts",
        "routes": [
            {
                "name": "payments",
                "match": {"service": "payments"},
                "channels": ["#payments"],
                "mention": {"critical": ["oncall:primary"], "*": ["bob"]},
                "continue": True,
            },
            {
                "name": "prod-critical",
                "match": {"env": "prod"},
                "match_re": {"severity": "critical|page"},
                "channels": ["#incidents", "#ops"],
            },
            {"name": "db", "match_re": {"service": "db-.*"}, "channels": ["#db"]},
        ],
    }
)
router = Router(CFG.routes, CFG.default_channel)


def channels(labels: dict[str, str]) -> list[str]:
    return [c for r in router.route(labels) for c in r.channels]


def test_first_match_wins_unless_continue() -> None:
    assert channels({"service": "payments", "env": "prod", "severity": "critical"}) == [
        "#payments",
        "#incidents",
        "#ops",
    ]
    assert channels({"service": "payments", "env": "dev"}) == ["#payments"]
    assert channels({"service": "db-main", "env": "prod", "severity": "critical"}) == ["#incidents", "#ops"]


def test_regex_must_match_the_whole_value() -> None:
    assert channels({"service": "db-main"}) == ["#db"]
    assert channels({"service": "my-db-main"}) == ["#alerts"]
    assert channels({"env": "prod", "severity": "critical-ish"}) == ["#alerts"]


def test_unmatched_alerts_go_to_the_default_route() -> None:
    [route] = router.route({"alertname": "X"})
    assert route.name == "default" and route.channels == ("#alerts",)


def test_mentions_by_severity_with_fallback() -> None:
    route = router.route({"service": "payments"})[0]
    assert route.mentions_for("critical") == ("oncall:primary",)
    assert route.mentions_for("warning") == ("bob",)
