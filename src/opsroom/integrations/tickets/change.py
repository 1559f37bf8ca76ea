"""Change review: a command may require a change ticket (``--change CHG0012345``) that its
provider confirms is approved and open for work now, before the run starts; a command may
also be marked not runnable from chat at all.

Catalog entries say so in their options::

    migrate-db:
      options: {not_from_chat: "Schema migrations go through the CAB: https://wiki/change"}
    rotate-certs:
      options: {change: required}

The engine calls ``review`` after policy and before the run is submitted; a ChangeRefused
message goes back to chat as it is, and nothing runs.
"""

from __future__ import annotations

import datetime as dt

from opsroom.core import CommandSpec
from opsroom.integrations.tickets.base import Change, ChangeProvider, ChangeRefused, TicketNotFound


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


async def check_change(provider: ChangeProvider, change_id: str, *, now: dt.datetime | None = None) -> Change:
    """The change, if it allows work now; ChangeRefused saying why not otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        change = await provider.get_change(change_id)
    except TicketNotFound:
        raise ChangeRefused(f"change {change_id} was not found; check the number") from None
    ref = change.id
    if not change.approved:
        raise ChangeRefused(
            f"change {ref} is not approved (approval: {change.approval or 'none'}); "
            "nothing was run. Ask the change approvers, then try again."
        )
    if not change.in_state_to_run:
        raise ChangeRefused(
            f"change {ref} is in state {change.state!r}, in which work may not be carried out; nothing was run."
        )
    if change.start is None or change.end is None:
        raise ChangeRefused(f"change {ref} has no planned start and end; nothing was run.")
    if now < change.start:
        raise ChangeRefused(
            f"change {ref} is approved for {_when(change.start)} – {_when(change.end)}; "
            f"its window opens in {_span((change.start - now).total_seconds())}. Nothing was run."
        )
    if now > change.end:
        raise ChangeRefused(
            f"change {ref}'s window closed at {_when(change.end)} "
            f"({_span((now - change.end).total_seconds())} ago); nothing was run. "
            "Reschedule the change to run this."
        )
    return change


async def review(
    spec: CommandSpec,
    change_id: str | None,
    provider: ChangeProvider | None,
    *,
    now: dt.datetime | None = None,
) -> Change | None:
    """What the engine calls before submitting a run. ``change_id`` is the ``--change`` flag.

    A change given to a command that does not require one is still checked: someone who
    names a change expects it to be honoured.
    """
    not_from_chat = spec.options.get("not_from_chat")
    if not_from_chat:
        message = not_from_chat if isinstance(not_from_chat, str) else "use the change process"
        raise ChangeRefused(f"`{spec.name}` is not run from chat: {message}")
    required = spec.options.get("change") == "required"
    if not change_id:
        if required:
            raise ChangeRefused(
                f"`{spec.name}` needs an approved change ticket in its window: add --change CHG… to the command"
            )
        return None
    if provider is None:
        raise ChangeRefused("no ticket provider is configured to check change tickets (tickets.changes)")
    return await check_change(provider, change_id, now=now)
