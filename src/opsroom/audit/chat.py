"""The chat ``/audit`` answer: visibility-filtered, and private when it could be sensitive.

Results are filtered by the asker's scope (``opsroom.audit.visibility``). Posted in a channel,
an answer is shown to everyone there only when every entry in it comes from that very
channel (they can all read it anyway); otherwise it goes to the asker alone, as an
ephemeral message. Where the platform cannot do that (or we do not know the asker's id
there), the answer says to ask in a direct message and shows nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from opsroom.audit.chain import AuditEntry
from opsroom.audit.visibility import AuditScope, channel_key, scope_for
from opsroom.core import Context, Invocation, Message, ParseError, Section

SHOWN = 15
NATIVE_PLATFORMS = frozenset({"shell", "web", "api"})  # sender id == opsroom user name
# One person's own terminal (``opsroom shell`` on the server): every answer is private there.
PRIVATE_PLATFORMS = frozenset({"shell"})


def _line(e: AuditEntry) -> str:
    return (
        f"#{e.id} {e.ts.strftime('%a %Y-%m-%d %H:%M')} · {e.actor} · {e.action}"
        f"{' · ' + e.command if e.command else ''}{' · run #' + str(e.run_id) if e.run_id else ''}"
        f"{' · ' + e.channel if e.channel else ''} — {e.summary[:160]}"
    )


def only_from_here(entries: list[AuditEntry], inv: Invocation) -> bool:
    """True when everyone in the channel could already read every entry."""
    place = inv.place
    if place.is_direct:
        return True
    here = channel_key(place.name)
    return all(e.channel not in ("", "dm") and channel_key(e.channel) == here for e in entries)


def recipient_id(inv: Invocation) -> str | None:
    """The asker's id on this platform, for an ephemeral message (None: unknown)."""
    platform = inv.place.platform
    found = inv.principal.identities.get(platform)
    if found:
        return str(found)
    return inv.principal.name if platform in NATIVE_PLATFORMS else None


def answer(log: Any, scope: AuditScope, inv: Invocation, *, can_whisper: bool) -> Message:
    """The reply to ``audit <query>`` typed by ``inv.principal`` at ``inv.place``."""
    text = str(inv.args.get("query") or "")
    try:
        query = log.parse(text)
    except ParseError as exc:
        return Message.plain(str(exc), "warning")
    entries: list[AuditEntry] = log.search(query, limit=SHOWN, scope=scope)
    if not entries:
        return Message.plain(
            f"No audit entries you may see match `{text}`." if text else "There are no audit entries you may see."
        )
    hint = Context("newest first · only what you may see · full search in the console")
    message = Message(f"{len(entries)} audit entries", (Section("\n".join(_line(e) for e in entries)), hint))
    if only_from_here(entries, inv) or inv.place.platform in PRIVATE_PLATFORMS:
        return message
    recipient = recipient_id(inv)
    if can_whisper and recipient:
        return dataclasses.replace(message, ephemeral_to=recipient)
    return Message.plain(
        "Those results include entries from other channels or direct messages, so I will not "
        "post them here. Ask me in a direct message, or search in the console.",
        "warning",
    )


async def audit_command(engine: Any, inv: Invocation) -> Message:
    """The built-in ``audit`` command: scope from the configured channels and policy."""
    channels = engine.guardrails.channels if engine.guardrails is not None else ()
    scope = scope_for(inv.principal, channels, engine.parts.policy, inv.place)
    adapter = engine.chat.adapters.get(inv.place.platform) if hasattr(engine.chat, "adapters") else None
    can_whisper = bool(adapter is not None and adapter.capabilities.ephemeral)
    return answer(engine.audit, scope, inv, can_whisper=can_whisper)
