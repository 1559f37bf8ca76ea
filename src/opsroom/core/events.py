"""What adapters hand to the engine: one typed event per inbound platform event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from opsroom.core.places import MessageRef, Place
from opsroom.core.quickinit import quick_init


@quick_init  # one per inbound event (core/quickinit.py)
@dataclass(frozen=True)
class MessageEvent:
    """Someone wrote something the bot can see.

    ``addressed`` is True when the platform already tells us it is for the bot (a slash
    command, an @mention, a DM); otherwise the engine looks for a ``/`` or ``!`` prefix.
    ``event_id`` is the platform's delivery id, used to run a command exactly once.
    """

    place: Place
    sender_id: str
    text: str
    message_id: str | None = None
    addressed: bool = False
    event_id: str | None = None
    sender_name: str = ""
    sender_email: str = ""


@quick_init  # one per inbound event (core/quickinit.py)
@dataclass(frozen=True)
class ActionEvent:
    """Someone clicked a button; ``action_id`` is the signed id the button carried."""

    place: Place
    sender_id: str
    action_id: str
    message: MessageRef | None = None
    event_id: str | None = None
    sender_name: str = ""
    sender_email: str = ""
    value: str = ""  # what the person typed with the click, where the platform asks (a Deny's reason)


Inbound = Union[MessageEvent, ActionEvent]
