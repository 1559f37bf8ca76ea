"""The platform-neutral ``Message`` rendered as Matrix ``m.room.message`` content: a plain
``body`` plus ``org.matrix.custom.html``.

Matrix has no buttons, so every button becomes a hint: the emoji to react with (from the
``reactions`` config) and the text command that does the same (``!approve 42``). User text is
HTML-escaped before the Markdown subset is turned into tags, so nothing in a command's output
can inject markup; ``@room`` is broken with a zero-width space so output cannot ping a room.
Pure functions; the adapter keeps the message → button map for reactions.
"""

from __future__ import annotations

import html
import re
from typing import Any

from opsroom.chat.render import TONE_EMOJI, tone_emoji
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Section

BODY_LIMIT = 30_000  # Synapse refuses events over 64 KiB; body and HTML both count
CODE_LIMIT = 12_000

_LINK = re.compile(r"&lt;((?:https?://|mailto:)[^\s<>|]+?)(?:\|(.*?))?&gt;")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_CODE = re.compile(r"`([^`\n]+)`")
_ROOM_PING = re.compile(r"@room\b", re.IGNORECASE)
_SHORTCODES = {
    v: k
    for k, v in {
        "⏳": ":hourglass_flowing_sand:",
        "✅": ":white_check_mark:",
        "❌": ":x:",
        "⚠️": ":warning:",
        "⛔": ":no_entry:",
    }.items()
}


def _defang(text: str) -> str:
    return _ROOM_PING.sub("@\u200broom", text)


def inline_html(text: str) -> str:
    """The Markdown subset as Matrix HTML, after escaping everything the user wrote."""
    out = html.escape(_defang(text), quote=True)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _LINK.sub(lambda m: f'<a href="{m.group(1)}">{m.group(2) or m.group(1)}</a>', out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _ITALIC.sub(r"<em>\1</em>", out)


def inline_plain(text: str) -> str:
    return (
        _LINK.sub(
            lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1),
            html.escape(_defang(text), quote=False),
        )
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else "… (truncated)\n" + text[-(limit - 20) :]


def typed_command(button: Button) -> str:
    """The command that presses ``button`` by typing (``!deny 7 <reason>``), or ""."""
    return ("!" + button.fallback.lstrip("/!")).replace("REASON", "<reason>") if button.fallback else ""


def button_hint(button: Button, emoji_for: dict[str, str]) -> str:
    """How to press ``button`` without buttons: react with its emoji, or type its fallback.
    A button that asks a question (a Deny's "why?") is only typed: a reaction carries no
    answer, so the hint names the exact command with the answer in it."""
    typed = typed_command(button)
    if button.asks and typed:
        return f"*{button.label}*: type `{typed}` — {button.asks}"
    ways = []
    emoji = emoji_for.get(button.label.lower())
    if emoji:
        ways.append(f"react {emoji}")
    if typed:
        ways.append(f"type `{typed}`")
    return f"*{button.label}*: " + (" or ".join(ways) if ways else "not available in Matrix")


def render(message: Message, mentions: list[tuple[str, str]], emoji_for: dict[str, str]) -> dict[str, Any]:
    """Content for ``m.room.message``. ``mentions`` are (Matrix user id, display name) pairs,
    shown as pills and listed in ``m.mentions`` so only they are notified; ``emoji_for`` maps
    a lower-case button label to the emoji that presses it."""
    plain: list[str] = []
    rich: list[str] = []
    icon = _SHORTCODES.get(tone_emoji(message), "") if tone_emoji(message) in TONE_EMOJI.values() else ""
    if mentions:
        plain.append(" ".join(name for _, name in mentions))
        rich.append(
            " ".join(
                f'<a href="https://matrix.to/#/{html.escape(uid)}">{html.escape(name)}</a>' for uid, name in mentions
            )
        )
    for block in message.blocks or (Section(message.text),):
        if isinstance(block, Section):
            plain.append(inline_plain(block.text))
            rich.append(f"<p>{inline_html(block.text)}</p>")
        elif isinstance(block, Code):
            text = _truncate(_defang(block.text), CODE_LIMIT)
            plain.append(f"```\n{text}\n```")
            rich.append(f"<pre><code>{html.escape(text)}</code></pre>")
        elif isinstance(block, Fields):
            plain.extend(f"{inline_plain(k)}: {inline_plain(v)}" for k, v in block.items)
            rich.append(
                "<ul>"
                + "".join(f"<li><strong>{inline_html(k)}</strong>: {inline_html(v)}</li>" for k, v in block.items)
                + "</ul>"
            )
        elif isinstance(block, Context):
            plain.append(inline_plain(block.text))
            rich.append(f"<p><sub>{inline_html(block.text)}</sub></p>")
        elif isinstance(block, Actions):
            hints = [f"{b.label}: {b.url}" if b.url else button_hint(b, emoji_for) for b in block.buttons]
            plain.extend(inline_plain(h) for h in hints)
            rich.append("<p>" + " · ".join(inline_html(h) for h in hints) + "</p>")
    if icon:
        plain[0:1] = [f"{icon} {plain[0]}" if plain else icon]
        rich[0:1] = [f"{icon} {rich[0]}" if rich else icon]
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": _truncate("\n".join(plain), BODY_LIMIT),
        "format": "org.matrix.custom.html",
        "formatted_body": _truncate("".join(rich), BODY_LIMIT),
        "m.mentions": {"user_ids": sorted({uid for uid, _ in mentions})},
    }
    return content
