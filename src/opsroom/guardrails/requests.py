"""The messages that ask for a confirmation or approvals: what is asked, of whom, until when,
with buttons bound to exactly the held command (its fingerprint)."""

from __future__ import annotations

import datetime as dt
from typing import Callable, Sequence

from opsroom.core import Actions, Button, Context, Fields, Invocation, Message, Principal, Section
from opsroom.guardrails import approvals as book
from opsroom.policy.requirements import CONFIRMATION, approvers_text, typed_target

Mint = Callable[..., str]  # ActionSigner.mint


def approval_message(
    inv: Invocation, hold: book.Hold, now: dt.datetime, progress: str, mint: Mint, approvers: Sequence[Principal] = ()
) -> Message:
    """The approval request: who asked, what exactly, who may approve (named, so they are
    told), Approve/Deny."""
    ttl = max(60.0, (hold.expires_at - now).total_seconds() + 60)
    payload = {"run": hold.run_id, "fp": hold.fingerprint[:16]}
    needs = " and ".join(f"{r.count} from {approvers_text(r.roles, r.users)}" for r in hold.approvals)
    team = "" if all(r.allow_requester_team for r in hold.approvals) else " · not from the requester's team"
    # Not single-use: anyone in the thread may click, and a click by a non-approver must
    # not use the button up. Repeats are harmless: one vote per person, state checked.
    return Message(
        f"run #{hold.run_id} needs approval: {inv.canonical()}",
        (
            Section(f"🗳️ {inv.describe()} · run #{hold.run_id} needs approval"),
            Fields(
                (
                    ("requested by", inv.principal.label),
                    ("command", f"`{inv.canonical()}`"),
                    ("needs", needs + team),
                    ("approved", progress),
                    ("expires", f"in {book.remaining(hold, now)}"),
                )
            ),
            Actions(
                (
                    Button(
                        "Approve",
                        mint("approval.approve", payload, ttl=ttl, single_use=False),
                        "primary",
                        f"/approve {hold.run_id}",
                    ),
                    Button(
                        "Deny",
                        mint("approval.deny", payload, ttl=ttl, single_use=False),
                        "danger",
                        f"/deny {hold.run_id} REASON",
                        asks="Why deny? (required; the requester sees it)",
                    ),
                )
            ),
            Context("the requester cannot approve their own run · the approval binds to exactly this command"),
        ),
        tone="warning",
        mentions=tuple(approvers),
    )


def confirm_message(inv: Invocation, hold: book.Hold, now: dt.datetime, mint: Mint) -> Message:
    """The confirmation request: a Confirm button, or the target to type."""
    confirm = next(r for r in hold.requirements if r.kind == CONFIRMATION)
    typed = typed_target(confirm, inv.command, dict(inv.args))
    then = " Then it needs approval." if hold.approvals else ""
    left = f"expires in {book.remaining(hold, now)}"
    if typed is not None:
        return Message(
            f"run #{hold.run_id}: type to confirm",
            (
                Section(
                    f"❓ {inv.describe()} · run #{hold.run_id}: to start it, type "
                    f"`confirm {hold.run_id} {typed[1]}` (the {typed[0]}).{then}"
                ),
                Context(f"only {inv.principal.label} can confirm · {left} · `cancel {hold.run_id}` to drop it"),
            ),
            tone="warning",
        )
    payload = {"run": hold.run_id, "fp": hold.fingerprint[:16]}
    button = mint(
        "run.confirm",
        payload,
        ttl=max(60.0, (hold.expires_at - now).total_seconds() + 60),
        single_use=False,
    )
    return Message(
        f"run #{hold.run_id}: confirm to start",
        (
            Section(f"❓ {inv.describe()} · run #{hold.run_id}: confirm to start `{inv.canonical()}`.{then}"),
            Actions((Button("Confirm", button, "primary", f"/confirm {hold.run_id}"),)),
            Context(f"only {inv.principal.label} can confirm · {left}"),
        ),
        tone="warning",
    )
