"""Figures for the console dashboard, computed from the runs table and the audit log.

Bounded reads: only the chosen window, and at most ``MAX_ROWS`` rows each, so the page
stays fast on a large database.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from opsroom.desk.tables import desk_questions
from opsroom.store import time_order
from opsroom.store.tables import audit_log, runs
from opsroom.store.types import as_utc

MAX_ROWS = 50_000
OUTCOMES = ("succeeded", "failed", "cancelled", "denied", "other")
_OUTCOME_OF = {
    "succeeded": "succeeded",
    "failed": "failed",
    "timed_out": "failed",
    "interrupted": "failed",
    "cancelled": "cancelled",
    "denied": "denied",
    "expired": "denied",
}


def _days(now: dt.datetime, days: int) -> list[str]:
    start = now.date() - dt.timedelta(days=days - 1)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def dashboard(db: Any, *, days: int = 14, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    labels = _days(now, days)
    since = dt.datetime.fromisoformat(labels[0]).replace(tzinfo=dt.UTC)
    per_day: dict[str, dict[str, int]] = {o: dict.fromkeys(labels, 0) for o in OUTCOMES}
    durations: dict[str, list[float]] = defaultdict(list)
    with db.read() as conn:
        # SQLite: the window's id ranges (no time indexes there: store/time_order.py)
        run_ids = time_order.id_range(conn, runs, since).clauses
        entry_ids = time_order.id_range(conn, audit_log, since).clauses
        rows = conn.execute(
            select(runs.c.command, runs.c.state, runs.c.created_at, runs.c.started_at, runs.c.finished_at)
            .where(runs.c.created_at >= since, *run_ids)
            .order_by(runs.c.id.desc())
            .limit(MAX_ROWS)
        ).all()
        audit_rows = conn.execute(
            select(audit_log.c.ts, audit_log.c.action, audit_log.c.summary)
            .where(
                audit_log.c.ts >= since,
                *entry_ids,
                audit_log.c.action.in_(
                    [
                        "decision",
                        "approval.approved",
                        "approval.denied",
                        "freeze.denied",
                        "action.denied",
                        "cancel.denied",
                        "approval.expired",
                    ]
                ),
            )
            .order_by(audit_log.c.id.desc())
            .limit(MAX_ROWS)
        ).all()
        desk = {
            outcome: int(n)
            for outcome, n in conn.execute(
                select(desk_questions.c.outcome, func.count())
                .where(desk_questions.c.asked_at >= since)
                .group_by(desk_questions.c.outcome)
            )
        }
    for command, state, created, started, finished in rows:
        day = as_utc(created).date().isoformat()
        if day in per_day["other"]:
            per_day[_OUTCOME_OF.get(state, "other")][day] += 1
        if started is not None and finished is not None and state in ("succeeded", "failed", "timed_out"):
            durations[command].append(max(0.0, (as_utc(finished) - as_utc(started)).total_seconds()))
    denials = dict.fromkeys(labels, 0)
    approvals = dict.fromkeys(labels, 0)
    approval_denials = dict.fromkeys(labels, 0)
    for ts, action, summary in audit_rows:
        day = as_utc(ts).date().isoformat()
        if day not in denials:
            continue
        if action == "decision":
            if summary.startswith("denied"):
                denials[day] += 1
        elif action == "approval.approved":
            approvals[day] += 1
        elif action in ("approval.denied", "approval.expired"):
            approval_denials[day] += 1
        else:
            denials[day] += 1
    commands = sorted(durations)
    return {
        "days": labels,
        "per_day": {o: [per_day[o][d] for d in labels] for o in OUTCOMES},
        "durations": {
            "commands": commands,
            "p50": [round(percentile(durations[c], 50), 3) for c in commands],
            "p95": [round(percentile(durations[c], 95), 3) for c in commands],
            "count": [len(durations[c]) for c in commands],
        },
        "decisions": {
            "denials": [denials[d] for d in labels],
            "approvals": [approvals[d] for d in labels],
            "approvals_denied_or_expired": [approval_denials[d] for d in labels],
        },
        "total_runs": len(rows),
        "desk": _desk_figures(desk),
    }


def _desk_figures(counts: dict[str, int]) -> dict[str, Any]:
    """Help-desk questions in the window; deflection = solved / (solved + escalated)."""
    solved, escalated = counts.get("solved", 0), counts.get("escalated", 0)
    settled = solved + escalated
    return {
        "asked": sum(counts.values()),
        "solved": solved,
        "escalated": escalated,
        "dismissed": counts.get("dismissed", 0),
        "open": counts.get("suggested", 0) + counts.get("no_match", 0),
        "deflection": round(solved / settled, 3) if settled else None,
    }
