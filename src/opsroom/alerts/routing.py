"""Which channels an alert goes to and who gets mentioned: an ordered list of label
matchers, first match wins unless the route says ``continue``; a default route catches the
rest so no alert is ever dropped for want of a route."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from opsroom.config.alerts import RouteConfig


@dataclass(frozen=True)
class Route:
    name: str
    channels: tuple[str, ...]
    match: Mapping[str, str]
    match_re: Mapping[str, re.Pattern[str]]
    mention: Mapping[str, tuple[str, ...]]
    escalation: str = ""
    group_by: tuple[str, ...] | None = None
    scheduled_digest: bool = False
    cont: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match.items():
            if labels.get(key, "") != value:
                return False
        for key, pattern in self.match_re.items():
            if not pattern.fullmatch(labels.get(key, "")):
                return False
        return True

    def mentions_for(self, severity: str) -> tuple[str, ...]:
        return self.mention.get(severity.lower(), self.mention.get("*", ()))


class Router:
    def __init__(self, routes: Sequence[RouteConfig], default_channel: str) -> None:
        self.routes = [
            Route(
                name=r.name or f"route {i + 1}",
                channels=tuple(r.channels) or (default_channel,),
                match=dict(r.match),
                match_re={k: re.compile(v) for k, v in r.match_re.items()},
                mention={k.lower(): tuple(v) for k, v in r.mention.items()},
                escalation=r.escalation,
                group_by=tuple(r.group_by) if r.group_by is not None else None,
                scheduled_digest=r.scheduled_digest,
                cont=r.continue_,
            )
            for i, r in enumerate(routes)
        ]
        self.default = Route(name="default", channels=(default_channel,), match={}, match_re={}, mention={})

    def route(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with these labels takes, in order (never empty)."""
        matched: list[Route] = []
        for route in self.routes:
            if route.matches(labels):
                matched.append(route)
                if not route.cont:
                    break
        return matched or [self.default]

    def by_name(self, name: str) -> Route:
        return next((r for r in self.routes if r.name == name), self.default)
