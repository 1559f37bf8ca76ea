"""Holds (runs waiting for approval or confirmation) and approval votes: storage and the
rules of who may approve.

The rules, each enforced here and tested in tests/unit/policy/test_approvals.py:
- the requester never approves their own run;
- a person counts once (a unique constraint, so not even two racing clicks count twice);
- only someone with an approver role (or named as an approver) counts, and with
  ``allow_requester_team: false`` nobody sharing a group with the requester;
- a vote is bound to the command's fingerprint: votes cast on another fingerprint never count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsroom.core import Principal, Requirement
from opsroom.guardrails.tables import approval_votes, guard_holds
from opsroom.policy.requirements import approvers_text
from opsroom.store.types import as_utc

UTC = dt.UTC
PENDING = "pending"


@dataclass(frozen=True)
class Hold:
    run_id: int
    kind: str  # "approval" | "confirmation"
    state: str
    fingerprint: str
    requester: str
    requirements: tuple[Requirement, ...]
    flags: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_by: str = ""

    @property
    def approvals(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.kind == "approval")


@dataclass(frozen=True)
class Vote:
    voter: str
    vote: str
    fingerprint: str
    reason: str
    at: dt.datetime


def _req_json(req: Requirement) -> dict[str, Any]:
    out = dataclasses.asdict(req)
    out["roles"], out["users"] = list(req.roles), list(req.users)
    return out


def _req_from(data: Mapping[str, Any]) -> Requirement:
    known = {f.name for f in dataclasses.fields(Requirement)}
    values = {k: v for k, v in data.items() if k in known}
    values["roles"] = tuple(values.get("roles", ()))
    values["users"] = tuple(values.get("users", ()))
    return Requirement(**values)


def _hold(row: Any) -> Hold:
    m = row._mapping
    return Hold(
        m["run_id"],
        m["kind"],
        m["state"],
        m["fingerprint"],
        m["requester"],
        tuple(_req_from(r) for r in m["requirements"]),
        dict(m["flags"] or {}),
        as_utc(m["created_at"]),
        as_utc(m["expires_at"]),
        m["decided_by"] or "",
    )


# -- storage -------------------------------------------------------------------------------------
def create_hold(
    conn: Connection,
    *,
    run_id: int,
    kind: str,
    fingerprint: str,
    requester: str,
    requirements: Sequence[Requirement],
    flags: Mapping[str, Any],
    now: dt.datetime,
    expires_at: dt.datetime,
) -> None:
    conn.execute(
        insert(guard_holds).values(
            run_id=run_id,
            kind=kind,
            state=PENDING,
            fingerprint=fingerprint,
            requester=requester,
            requirements=[_req_json(r) for r in requirements],
            flags=dict(flags),
            created_at=now,
            expires_at=expires_at,
            decided_by="",
        )
    )


def get_hold(conn: Connection, run_id: int, kind: str) -> Hold | None:
    row = conn.execute(select(guard_holds).where(guard_holds.c.run_id == run_id, guard_holds.c.kind == kind)).first()
    return _hold(row) if row else None


def latest_hold(conn: Connection, run_id: int) -> Hold | None:
    """The approval hold if there is one, else the confirmation hold."""
    return get_hold(conn, run_id, "approval") or get_hold(conn, run_id, "confirmation")


def pending_holds(
    conn: Connection, kind: str | None = None, *, due_before: dt.datetime | None = None, limit: int = 500
) -> list[Hold]:
    query = select(guard_holds).where(guard_holds.c.state == PENDING).order_by(guard_holds.c.run_id)
    if kind:
        query = query.where(guard_holds.c.kind == kind)
    if due_before is not None:
        query = query.where(guard_holds.c.expires_at <= due_before)
    return [_hold(r) for r in conn.execute(query.limit(limit))]


def close_hold(conn: Connection, run_id: int, kind: str, state: str, by: str, now: dt.datetime) -> bool:
    """Pending -> ``state``; False if it was no longer pending (someone else got there first)."""
    result = conn.execute(
        update(guard_holds)
        .where(
            and_(
                guard_holds.c.run_id == run_id,
                guard_holds.c.kind == kind,
                guard_holds.c.state == PENDING,
            )
        )
        .values(state=state, decided_at=now, decided_by=by)
    )
    return bool(result.rowcount)


def add_vote(
    conn: Connection, run_id: int, voter: str, vote: str, fingerprint: str, reason: str, now: dt.datetime
) -> bool:
    """False when this person already voted on this run (the database says so, atomically)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(approval_votes).values(
                    run_id=run_id, voter=voter, vote=vote, fingerprint=fingerprint, reason=reason, at=now
                )
            )
    except IntegrityError:
        return False
    return True


def votes_for(conn: Connection, run_id: int) -> list[Vote]:
    rows = conn.execute(select(approval_votes).where(approval_votes.c.run_id == run_id).order_by(approval_votes.c.id))
    return [
        Vote(m["voter"], m["vote"], m["fingerprint"], m["reason"], as_utc(m["at"])) for m in (r._mapping for r in rows)
    ]


# -- who may approve -----------------------------------------------------------------------------
def can_approve(voter: Principal, req: Requirement, requester: Principal | None) -> bool:
    if not voter.known or (requester is not None and voter.name == requester.name):
        return False
    if not (voter.name in req.users or voter.roles & set(req.roles)):
        return False
    if not req.allow_requester_team and requester is not None and voter.groups & requester.groups:
        return False
    return True


def refusal(voter: Principal, hold: Hold, requester: Principal | None) -> str | None:
    """Why ``voter`` may not approve this run; None when they may."""
    if voter.name == hold.requester:
        return f"you asked for run #{hold.run_id}; someone else must approve it"
    if any(can_approve(voter, req, requester) for req in hold.approvals):
        return None
    for req in hold.approvals:
        if (
            voter.known
            and (voter.name in req.users or voter.roles & set(req.roles))
            and not req.allow_requester_team
            and requester is not None
        ):
            shared = ", ".join(sorted(voter.groups & requester.groups))
            return (
                f"you share team {shared} with {hold.requester}; run #{hold.run_id} needs "
                "an approver from outside the requester's team"
            )
    needed = " and ".join(approvers_text(r.roles, r.users) for r in hold.approvals)
    return f"you are not an approver for run #{hold.run_id}: it needs approval from {needed}"


@dataclass(frozen=True)
class Tally:
    satisfied: bool
    progress: str  # "1 of 2 from role sre-lead"
    approvers: tuple[str, ...]


class People(Protocol):
    """The configured people (``Directory``): looked up by name, and listed."""

    def get(self, name: str) -> Principal | None: ...

    def __iter__(self) -> Iterator[Principal]: ...


def tally(hold: Hold, votes: Sequence[Vote], directory: People, requester: Principal | None) -> Tally:
    """Counts approvals per requirement: only votes on this fingerprint, by eligible people."""
    approvers = [v.voter for v in votes if v.vote == "approve" and v.fingerprint == hold.fingerprint]
    parts: list[str] = []
    satisfied = True
    for req in hold.approvals:
        eligible = [
            name for name in approvers if (p := directory.get(name)) is not None and can_approve(p, req, requester)
        ]
        if len(eligible) < req.count:
            satisfied = False
        parts.append(f"{min(len(eligible), req.count)} of {req.count} from {approvers_text(req.roles, req.users)}")
    return Tally(satisfied, "; ".join(parts), tuple(approvers))


def remaining(hold: Hold, now: dt.datetime) -> str:
    seconds = max(0, int((hold.expires_at - now).total_seconds()))
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"
