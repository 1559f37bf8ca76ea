"""Planning a batch: each alert lands in the groups its routes and group labels say, whether
its groups were worked out for it or remembered from an alert with the same decisive labels."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from opsroom.alerts.context import AlertContext
from opsroom.alerts.grouping import group_key, group_labels
from opsroom.alerts.model import Alert
from opsroom.alerts.planning import plan_batch
from opsroom.alerts.routing import Router
from opsroom.config.alerts import AlertsConfig

ROUTES = [
    {"name": "payments", "match": {"service": "payments"}, "channels": ["#pay"], "continue": True},
    {"name": "prod", "match": {"env": "prod"}, "match_re": {"severity": "critical|page"}, "channels": ["#a", "#b"]},
    {"name": "db", "match_re": {"service": "db-.*"}, "channels": ["#db"], "group_by": ["cluster"]},
]


def _ctx(group_by: list[str], routes: list[dict[str, Any]] = ROUTES, router: Router | None = None) -> AlertContext:
    cfg = AlertsConfig.model_validate(
        {"default_channel": "#alerts", "routes": routes, "grouping": {"group_by": group_by}}
    )
    return cast(AlertContext, SimpleNamespace(config=cfg, router=router or Router(cfg.routes, cfg.default_channel)))


def _alert(fp: str, status: str = "firing", **labels: str) -> Alert:
    return Alert(fingerprint=fp, status=status, labels=labels)  # type: ignore[arg-type]


def _expected(ctx: AlertContext, batch: list[Alert]) -> dict[str, tuple[str, str, dict[str, str], list[str]]]:
    """Every alert worked out on its own: key → (route, channel, group labels, fingerprints)."""
    out: dict[str, tuple[str, str, dict[str, str], list[str]]] = {}
    for alert in batch:
        for route in ctx.router.route(alert.labels):
            labels = group_labels(alert.labels, route.group_by or ctx.config.grouping.group_by)
            for channel in route.channels:
                key = group_key(channel, route.name, labels)
                entry = out.setdefault(key, (route.name, channel, labels, []))
                if alert.fingerprint not in entry[3]:  # a repeat keeps its place (and is replaced)
                    entry[3].append(alert.fingerprint)
    return out


def _planned(ctx: AlertContext, batch: list[Alert]) -> dict[str, tuple[str, str, dict[str, str], list[str]]]:
    plans = plan_batch(ctx, batch)
    for plan in plans.values():
        assert all(plan.alerts[fp].fingerprint == fp for fp in plan.alerts)
    return {k: (p.route.name, p.channel_name, p.labels, list(p.alerts)) for k, p in plans.items()}


BATCH = [
    _alert("1", alertname="Disk", service="payments", env="prod", severity="critical"),
    _alert("2", alertname="Disk", service="payments", env="prod", severity="critical", instance="b"),
    _alert("3", alertname="Disk", service="payments", env="prod", severity="warning"),
    _alert("4", alertname="Disk", service="db-main", cluster="c1"),
    _alert("5", alertname="Cpu", service="db-main", cluster="c1"),
    _alert("6", alertname="Cpu", service="db-main"),
    _alert("7", alertname="Cpu", service="db-main", cluster=""),  # the same group as a missing label
    _alert("8", alertname="Cpu"),
    _alert("1", "resolved", alertname="Disk", service="payments", env="prod", severity="critical"),  # last wins
]


def test_each_alert_lands_in_the_groups_its_routes_and_labels_give() -> None:
    ctx = _ctx(["alertname"])
    expected = _expected(ctx, BATCH)
    assert _planned(ctx, BATCH) == expected
    assert _planned(ctx, BATCH) == expected  # remembered from the first batch: the same groups
    assert plan_batch(ctx, BATCH)[next(iter(expected))].alerts["1"].status == "resolved"


def test_grouping_by_every_label_keeps_alerts_apart() -> None:
    ctx = _ctx(["..."])
    assert _planned(ctx, BATCH) == _expected(ctx, BATCH)
    assert len(plan_batch(ctx, BATCH)) > len(plan_batch(_ctx(["alertname"]), BATCH))


def test_a_new_grouping_is_not_answered_from_the_old_one() -> None:
    by_name = _ctx(["alertname"], routes=[])
    by_instance = _ctx(["instance"], routes=[], router=by_name.router)  # the same router, regrouped
    batch = [_alert("a", alertname="Disk", instance="x"), _alert("b", alertname="Disk", instance="y")]
    assert len(plan_batch(by_name, batch)) == 1
    assert _planned(by_instance, batch) == _expected(by_instance, batch)
    assert len(plan_batch(by_instance, batch)) == 2
