"""Which groups a batch's alerts go to: each alert's routes, and per route and channel the
group keyed on the route's group labels (``grouping.group_key``).

Routing and grouping read only a few labels (those the routes match on and group by), so an
alert's groups are a function of those labels' values: they are looked up for each alert in
one call of C, and the groups of each distinct set of values are worked out once and
remembered (per router, so a new configuration starts afresh). Intake asks again for every
alert of a group, batch after batch.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple, Sequence

from opsroom.alerts.context import AlertContext
from opsroom.alerts.grouping import group_key, group_labels
from opsroom.alerts.model import Alert
from opsroom.alerts.routing import Route, Router


class Plan:
    """One group of the batch: its key, route, channel and group labels, and the batch's
    alerts in it by fingerprint."""

    __slots__ = ("alerts", "channel_name", "key", "labels", "route")

    def __init__(self, key: str, route: Route, channel_name: str, labels: dict[str, str]) -> None:
        self.key, self.route, self.channel_name, self.labels = key, route, channel_name, labels
        self.alerts: dict[str, Alert] = {}


class _Target(NamedTuple):
    key: str
    route: Route
    channel_name: str
    labels: dict[str, str]  # shared by every plan of this group: read, never changed


_Targets = tuple[_Target, ...]
_MAX = 50_000  # sets of values remembered per router
# Per router: (the default grouping it was built for, the decisive label names, their
# values → the groups). Dropped with the router.
_Memory = tuple[tuple[str, ...], tuple[str, ...] | None, dict[tuple[str, ...], _Targets]]
_CACHE: weakref.WeakKeyDictionary[Router, _Memory] = weakref.WeakKeyDictionary()


def plan_batch(ctx: AlertContext, batch: Sequence[Alert]) -> dict[str, Plan]:
    """The batch's groups by key, in the order they first appear, each with its alerts by
    fingerprint (a repeat within one payload: the last wins)."""
    plans: dict[str, Plan] = {}
    names, known = _memory(ctx)
    blanks = ("",) * len(names or ())  # a missing label reads as "", in routing as in grouping
    for alert in batch:
        if names is None:  # a route groups by every label: work each alert out on its own
            targets = _targets(ctx, alert)
        else:
            labels = alert.labels
            values = tuple(map(labels.get, names, blanks))
            found = known.get(values)
            if found is None:
                if len(known) >= _MAX:
                    known.clear()
                found = known[values] = _targets(ctx, alert)
            targets = found
        for target in targets:
            plan = plans.get(target.key)
            if plan is None:
                plan = plans[target.key] = Plan(*target)
            plan.alerts[alert.fingerprint] = alert
    return plans


def _memory(ctx: AlertContext) -> tuple[tuple[str, ...] | None, dict[tuple[str, ...], _Targets]]:
    router, default_group_by = ctx.router, tuple(ctx.config.grouping.group_by)
    found = _CACHE.get(router)
    if found is None or found[0] != default_group_by:
        found = _CACHE[router] = (default_group_by, decisive_labels(router, default_group_by), {})
    return found[1], found[2]


def decisive_labels(router: Router, default_group_by: Sequence[str]) -> tuple[str, ...] | None:
    """The label names whose values alone decide an alert's groups: those any route matches
    on and those any route groups by. None when a route groups by every label (``...``)."""
    names: dict[str, None] = {}
    for route in (*router.routes, router.default):
        group_by = route.group_by or default_group_by
        if "..." in group_by:
            return None
        names.update(dict.fromkeys(route.match))
        names.update(dict.fromkeys(route.match_re))
        names.update(dict.fromkeys(group_by))
    return tuple(names)


def _targets(ctx: AlertContext, alert: Alert) -> _Targets:
    """The groups ``alert`` goes to, in route order, then channel order."""
    out = []
    for route in ctx.router.route(alert.labels):
        labels = group_labels(alert.labels, route.group_by or ctx.config.grouping.group_by)
        for channel in route.channels:
            out.append(_Target(group_key(channel, route.name, labels), route, channel, labels))
    return tuple(out)
