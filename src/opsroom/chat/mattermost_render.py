"""The platform-neutral ``Message`` rendered as a Mattermost post: Markdown text plus one
message attachment for the tone colour, fields, small print and buttons.

Pure functions; the adapter supplies the signed ``integration.context`` of each button.
User-supplied text cannot notify a whole channel: ``@channel``, ``@all`` and ``@here`` are
broken with a zero-width space.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from opsroom.chat.render import tone_emoji
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Section
from opsroom.core.message import Tone

POST_LIMIT = 16_000  # Mattermost's limit is 16383 characters
CODE_LIMIT = 12_000

TONE_COLOR: dict[Tone, str] = {
    "info": "",
    "running": "#1c58d9",
    "success": "#2eb886",
    "failure": "#d24b4e",
    "warning": "#f0b429",
    "denied": "#8b8b8b",
}

_LINK = re.compile(r"<((?:https?://|mailto:)[^\s<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_BROADCAST = re.compile(r"@(channel|all|here)\b", re.IGNORECASE)


class IntegrationFactory(Protocol):
    """Builds the integration block of a button from its index and signed action id; a
    button that asks a question (``Button.asks``) is passed as ``asks`` (its reason form)."""

    def __call__(self, index: int, action_id: str, *, asks: Button | None = None) -> dict[str, Any]: ...


def markdown(text: str) -> str:
    """The message subset (Slack-flavoured) as Mattermost Markdown."""
    text = _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})" if m.group(2) else m.group(1), text)
    return _BOLD.sub(r"**\1**", text)


def truncate(text: str, limit: int, *, keep: str = "head") -> str:
    if len(text) <= limit:
        return text
    marker = "… (truncated)"
    room = limit - len(marker) - 1
    return marker + "\n" + text[-room:] if keep == "tail" else text[:room] + "\n" + marker


def code(block: Code) -> str:
    body = _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), block.text).replace("```", "`\u200b``")
    return f"```{block.language}\n{truncate(body, CODE_LIMIT, keep='tail')}\n```"


def render(message: Message, mentions: list[str], integration: IntegrationFactory) -> dict[str, Any]:
    """``{"message": …, "props": {"attachments": [...]}}`` for POST /posts and PATCH.
    ``mentions`` are already-resolved ``@username`` strings."""
    lines: list[str] = []
    fields: list[dict[str, Any]] = []
    small: list[str] = []
    actions: list[dict[str, Any]] = []
    links: list[str] = []
    head = " ".join(p for p in (tone_emoji(message), *mentions) if p)
    index = 0
    for block in message.blocks or (Section(message.text),):
        if isinstance(block, Section):
            lines.append(markdown(block.text))
        elif isinstance(block, Code):
            lines.append(code(block))
        elif isinstance(block, Fields):
            fields.extend({"title": markdown(k), "value": markdown(v), "short": len(v) < 40} for k, v in block.items)
        elif isinstance(block, Context):
            small.append(markdown(block.text))
        elif isinstance(block, Actions):
            for button in block.buttons:
                if button.url:
                    links.append(f"[{button.label}]({button.url})")
                    continue
                style = {"primary": "primary", "danger": "danger"}.get(button.style, "default")
                actions.append(
                    {
                        "id": f"opsroom{index}",
                        "type": "button",
                        "name": button.label[:80] if button.label.strip() else "(button)",
                        "style": style,
                        "integration": (
                            integration(index, button.action_id, asks=button)
                            if button.asks
                            else integration(index, button.action_id)
                        ),
                    }
                )
                index += 1
    if links:
        lines.append(" · ".join(links))
    if head:
        lines[0:1] = [f"{head} {lines[0]}" if lines else head]
    body = truncate("\n\n".join(lines), POST_LIMIT)
    props: dict[str, Any] = {}
    color = TONE_COLOR.get(message.tone, "")
    if fields or small or actions or color:
        attachment: dict[str, Any] = {"fallback": markdown(message.text)[:300]}
        if color:
            attachment["color"] = color
        if fields:
            attachment["fields"] = fields
        if small:
            attachment["footer"] = truncate(" · ".join(small), 2000)
        if actions:
            attachment["actions"] = actions
        props["attachments"] = [attachment]
    return {"message": body, "props": props}
