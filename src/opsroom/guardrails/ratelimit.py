"""Rate limits: at most N runs of some commands per window, per user or for everyone.

Counted from the ``runs`` table rather than an in-memory counter, so limits hold across a
restart and across replicas, and what is counted is exactly what the user can see in
``/runs``: every request that got a run number (held, refused by a lock or not).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Connection, select

from opsroom.config.guardrails import RateLimit
from opsroom.core import CommandSpec, Principal
from opsroom.store import time_order
from opsroom.store.tables import runs
from opsroom.store.types import as_utc

UTC = dt.UTC

# Runs that never did anything (an approver denied them, nobody approved in time) are not
# held against the person: only what was let through counts. A refused command (policy, a
# parse error, the limit itself) writes no run at all, so it never counted.
NEVER_RAN = ("denied", "expired")


@dataclass(frozen=True)
class RateRefusal:
    text: str
    retry_at: dt.datetime
    limit: RateLimit


def _fmt_wait(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class RateLimiter:
    def __init__(self, limits: Iterable[RateLimit]) -> None:
        self.limits = list(limits)
        # Whether a limit says "*" (every changing command): only then does check() need
        # the list of changing commands, which the caller builds from the catalog.
        self.names_every_change = any("*" in limit.commands for limit in self.limits)

    def _names(self, limit: RateLimit, changing: list[str]) -> list[str]:
        return changing if "*" in limit.commands else list(limit.commands)

    def check(
        self, conn: Connection, spec: CommandSpec, principal: Principal, changing: list[str], now: dt.datetime
    ) -> RateRefusal | None:
        """The first limit this run would exceed, with when to retry; None when within all.
        ``changing`` is every command that is not read-only (what ``"*"`` means)."""
        for limit in self.limits:
            names = self._names(limit, changing)
            if spec.name not in names or principal.roles & set(limit.exempt_roles):
                continue
            window = dt.timedelta(seconds=limit.window_seconds)
            query = (
                select(runs.c.created_at)
                .where(runs.c.command.in_(names), runs.c.created_at > now - window, runs.c.state.not_in(NEVER_RAN))
                .limit(limit.limit)
            )
            # SQLite (no index on created_at): the window's id range, newest first by id
            # when ids are in time order (store/time_order.py), which stops at the limit.
            ids = time_order.id_range(conn, runs, now - window)
            query = query.where(*ids.clauses).order_by(runs.c.id.desc() if ids.in_order else runs.c.created_at.desc())
            if limit.per == "user":
                query = query.where(runs.c.user == principal.name)
            recent = [as_utc(r[0]) for r in conn.execute(query)]
            if len(recent) < limit.limit:
                continue
            retry_at = recent[-1] + window  # when the oldest of the last `limit` runs ages out
            what = names[0] if len(names) == 1 else "of these commands"
            who = "per person" if limit.per == "user" else "for everyone together"
            wait = _fmt_wait((retry_at - now).total_seconds())
            text = (
                f"⏳ rate limit: at most {limit.limit} {what} runs {who} per "
                f"{_fmt_wait(limit.window_seconds)}. Try again in {wait} "
                f"(at {retry_at.strftime('%H:%M:%S UTC')})."
            )
            return RateRefusal(text, retry_at, limit)
        return None
