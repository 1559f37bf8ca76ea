"""``output: private`` commands: the channel sees the run's status and a pointer
(``/run 42`` in a direct message); the output stays in opsroom's database for the requester
and the roles in ``guardrails.private_output_roles`` — not in the chat vendor's history.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from opsroom.core import Code, CommandSpec, Context, Invocation, Message, Place, Principal
from opsroom.reporter import Reporter
from opsroom.runs.service import LiveRun, RunOutcome


def is_private(spec: CommandSpec | None) -> bool:
    return spec is not None and str(spec.options.get("output", "chat")) == "private"


def _strip_output(message: Message, run_id: int) -> Message:
    blocks = tuple(b for b in message.blocks if not isinstance(b, Code))
    note = Context(f"🔒 output is private: `run {run_id}` in a direct message to opsroom shows it to those allowed")
    # replace() keeps everything else, ``extra`` included: a private run's last word is still
    # marked final (Slack shows it in the channel when the run lives in a thread).
    return replace(message, blocks=blocks + (note,))


class PrivateAwareReporter(Reporter):
    """The Reporter, minus the output of private commands."""

    def _running_message(self, run_id: int, t: Any, live: LiveRun | None) -> Message:
        message = super()._running_message(run_id, t, live)
        return _strip_output(message, run_id) if is_private(t.inv.command) else message

    def final_message(self, run_id: int, inv: Invocation, outcome: RunOutcome) -> Message:
        message = super().final_message(run_id, inv, outcome)
        return _strip_output(message, run_id) if is_private(inv.command) else message


def output_refusal(
    spec: CommandSpec | None, run_user: str, principal: Principal, place: Place, viewer_roles: Iterable[str]
) -> str | None:
    """Why the output of this run is not shown here; None when it may be shown."""
    if not is_private(spec):
        return None
    if principal.name != run_user and not (principal.known and principal.roles & set(viewer_roles)):
        return "🔒 the output of this run is private; only its requester and allowed roles may read it"
    if not place.is_direct:
        return "🔒 the output of this run is private: ask `run N` in a direct message to opsroom"
    return None
