"""The platform-neutral ``Message`` rendered as Slack Block Kit.

Pure functions, no Slack SDK import, so they are cheap to test. Slack's own limits are
respected here (3000 characters a text block, 10 fields a section, 25 buttons an actions
block, 50 blocks a message) by truncating visibly rather than having Slack reject the post.

Text from users (command arguments, command output) may contain Slack control sequences
such as ``<!channel>`` or ``<@U123>``; everything is escaped except links written in the
message subset (``<https://…|label>``), so output can never ping a whole channel.
"""

from __future__ import annotations

import re
from typing import Any

from opsroom.chat.render import tone_emoji
from opsroom.core import Actions, Code, Context, Fields, Message, Section
from opsroom.core.identity import Principal

TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
BUTTON_LABEL_LIMIT = 75
VALUE_LIMIT = 2000
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_BUTTONS = 25
FALLBACK_LIMIT = 3000
URL_LIMIT = 3000
EMPTY = "(no text)"  # Slack refuses empty texts; say so rather than have the post refused


# A link in the message subset: <http(s)://…|label> or <mailto:…|label>, label optional.
_LINK = re.compile(r"<((?:https?://|mailto:)[^\s<>|]+)(?:\|([^<>]*))?>")
BUTTON_ACTION_PREFIX = "opsroom_"
# A button that asks a question first (a Deny's reason): its action_id carries the question,
# so the click can open a dialog with it (action_id: at most 255 characters).
ASK_ACTION_PREFIX = "opsroom_ask_"
ACTION_ID_LIMIT = 255


def escape(text: str) -> str:
    """Slack's three entities; makes any ``<…>`` control sequence inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn(text: str) -> str:
    """Escape ``text`` but keep the links of the message subset working."""
    out: list[str] = []
    pos = 0
    for m in _LINK.finditer(text):
        out.append(escape(text[pos : m.start()]))
        url, label = m.group(1), m.group(2)
        out.append(f"<{escape(url)}|{escape(label)}>" if label else f"<{escape(url)}>")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def truncate(text: str, limit: int, *, keep: str = "head") -> str:
    """Cut to ``limit`` characters and say so. ``keep="tail"`` keeps the end, which is what
    matters in command output."""
    if len(text) <= limit:
        return text
    marker = "… (truncated)"
    room = limit - len(marker) - 1
    if keep == "tail":
        return marker + "\n" + text[-room:]
    return text[:room] + "\n" + marker


def mention(principal: Principal) -> str:
    user_id = principal.identities.get("slack")
    if user_id and re.fullmatch(r"[UW][A-Z0-9]+", user_id):
        return f"<@{user_id}>"
    return "@" + escape(principal.name)


def _code(block: Code) -> str:
    # A ``` inside the output would end the code block early; break it with a zero-width space.
    body = escape(block.text).replace("```", "`\u200b``")
    fence_room = TEXT_LIMIT - 8
    return "```\n" + truncate(body, fence_room, keep="tail") + "\n```"


def _button(index: int, label: str, action_id: str, style: str, url: str, asks: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {
            "type": "plain_text",
            "text": truncate(label, BUTTON_LABEL_LIMIT) if label.strip() else "(button)",
            "emoji": True,
        },
        # Slack's action_id is capped at 255 characters and must be unique in the message;
        # the signed opsroom id travels in ``value`` (up to 2000) and comes back verbatim.
        "action_id": f"{BUTTON_ACTION_PREFIX}{index}",
    }
    if asks and not url:
        head = f"{ASK_ACTION_PREFIX}{index}:"
        button["action_id"] = head + truncate(" ".join(asks.split()), ACTION_ID_LIMIT - len(head))
    if url:
        button["url"] = url
    else:
        if len(action_id) > VALUE_LIMIT:
            raise ValueError(f"button action id is {len(action_id)} characters; Slack allows {VALUE_LIMIT}")
        button["value"] = action_id
    if style in ("primary", "danger"):
        button["style"] = style
    return button


def render_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    prefix_parts = [mention(p) for p in message.mentions]
    emoji = tone_emoji(message)
    source = message.blocks or (Section(message.text),)
    first_section_done = False
    button_index = 0
    for block in source:
        if isinstance(block, (Section, Context)) and not block.text.strip():
            continue  # Slack refuses blank texts
        if isinstance(block, Section):
            text = mrkdwn(block.text)
            if not first_section_done:
                text = " ".join(p for p in (emoji, *prefix_parts, text) if p)
                first_section_done = True
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT)}})
        elif isinstance(block, Fields):
            items = [truncate(f"*{escape(k)}*\n{mrkdwn(v)}", FIELD_LIMIT) for k, v in block.items]
            for start in range(0, len(items), MAX_FIELDS):
                chunk = items[start : start + MAX_FIELDS]
                blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": t} for t in chunk]})
        elif isinstance(block, Code):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _code(block)}})
        elif isinstance(block, Context):
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": truncate(mrkdwn(block.text), TEXT_LIMIT)}],
                }
            )
        elif isinstance(block, Actions):
            elements = []
            too_long = [b for b in block.buttons[:MAX_BUTTONS] if len(b.url) > URL_LIMIT]
            for b in block.buttons[:MAX_BUTTONS]:
                if b not in too_long:
                    elements.append(_button(button_index, b.label, b.action_id, b.style, b.url, b.asks))
                    button_index += 1
            if elements:
                blocks.append({"type": "actions", "elements": elements})
            if too_long:
                labels = ", ".join(escape(b.label) for b in too_long)
                blocks.append(
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": truncate(
                                    f"(link too long for Slack to show as a button: {labels})", TEXT_LIMIT
                                ),
                            }
                        ],
                    }
                )
    if not first_section_done and (emoji or prefix_parts):
        head = " ".join(p for p in (emoji, *prefix_parts, mrkdwn(message.text)) if p)
        blocks.insert(0, {"type": "section", "text": {"type": "mrkdwn", "text": truncate(head, TEXT_LIMIT)}})
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "… more not shown"}]}
        ]
    return blocks


def render(message: Message) -> dict[str, Any]:
    """Keyword arguments for chat.postMessage / chat.update / chat.postEphemeral: ``text`` is
    the notification and screen-reader fallback, ``blocks`` what people see."""
    fallback = " ".join(p for p in (tone_emoji(message), mrkdwn(message.text)) if p).strip() or EMPTY
    return {"text": truncate(fallback, FALLBACK_LIMIT), "blocks": render_blocks(message)}
