"""Rendering pieces shared by the platform renderers (Slack, Mattermost): both speak
Slack-style emoji shortcodes."""

from __future__ import annotations

from opsroom.core import Message, Section
from opsroom.core.message import Tone

TONE_EMOJI: dict[Tone, str] = {
    "info": "",
    "running": ":hourglass_flowing_sand:",
    "success": ":white_check_mark:",
    "failure": ":x:",
    "warning": ":warning:",
    "denied": ":no_entry:",
}


def tone_emoji(message: Message) -> str:
    """The tone's emoji, unless the text already opens with an icon of its own (the run
    reporter writes ✅/❌/⏳ itself): one icon, never two."""
    first_text = next((b.text for b in message.blocks if isinstance(b, Section)), message.text)
    first = first_text.lstrip()[:1]
    if first == ":" or (first and ord(first) >= 0x2000):
        return ""
    return TONE_EMOJI.get(message.tone, "")
