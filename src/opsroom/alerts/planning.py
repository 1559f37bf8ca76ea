"""Which group (route, channel, group labels) each alert of a batch goes to.

Planning needs only the router and the grouping settings, no store: the webhook plans a
batch on its parse thread (``plan_ahead``, right after decoding and masking), so the alert
thread — the one stage intake's rate depends on, serialized — only stores. A batch planned
by another router or configuration than the one storing it is planned again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from opsroom.alerts.context import AlertContext
from opsroom.alerts.grouping import group_key, group_labels
from opsroom.alerts.model import Alert
from opsroom.alerts.routing import Route


@dataclass
class Plan:
    key: str
    route: Route
    channel_name: str
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)


def plan_batch(ctx: AlertContext, batch: Sequence[Alert]) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    default_group_by = ctx.config.grouping.group_by
    for alert in batch:
        for route in ctx.router.route(alert.labels):
            labels = group_labels(alert.labels, route.group_by or default_group_by)
            for channel in route.channels:
                key = group_key(channel, route.name, labels)
                plan = plans.get(key)
                if plan is None:
                    plan = plans[key] = Plan(key, route, channel, labels)
                plan.alerts[alert.fingerprint] = alert  # a repeat within one payload: last wins
    return plans


def _planner(ctx: AlertContext) -> tuple[Any, Any]:
    return (ctx.router, ctx.config)


def plan_ahead(ctx: AlertContext, batch: Any) -> Any:
    """Plan ``batch`` now (off the alert thread) and keep the plans on it. ``batch`` is the
    list ``ingest.redact_ahead`` returns, which takes attributes; the plans are read, never
    changed, when it is stored (so a retry alone after a failed shared commit reuses them)."""
    batch.plans = plan_batch(ctx, batch)
    batch.planned_by = _planner(ctx)
    return batch


def plans_for(ctx: AlertContext, batch: Sequence[Alert]) -> dict[str, Plan]:
    """The plans made ahead for exactly this batch by this router and configuration, else
    new ones. (A batch masked again at store time is a new list with no plans.)"""
    planned_by = getattr(batch, "planned_by", None)
    if planned_by is not None and all(a is b for a, b in zip(planned_by, _planner(ctx), strict=True)):
        return batch.plans  # type: ignore[attr-defined,no-any-return]
    return plan_batch(ctx, batch)
