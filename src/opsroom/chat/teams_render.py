"""The platform-neutral ``Message`` rendered as a Teams message with one Adaptive Card 1.5
(1.5 is what Universal Actions need in Teams).

Buttons are ``Action.Execute`` (verb ``opsroom.action``) with an ``Action.Submit`` fallback for
clients without Universal Actions; both carry the adapter's signed data, never anything the
engine did not mint. Mentions are ``<at>name</at>`` text plus ``msteams.entities``, keyed by
the person's Entra object id. Teams refuses messages over about 28 KB, so code is cut from the
top (the end of a log matters most) to keep the card well under that.
Pure functions; the adapter supplies the signed data of each button.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from opsroom.chat.render import TONE_EMOJI, tone_emoji
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Section

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ACTION_VERB = "opsroom.action"
ANSWER_INPUT = "reason"  # the Input.Text of a button that asks (its value comes back in the data)
ANSWER_MAX = 300  # what the guardrails keep of a reason
CARD_BUDGET = 24_000  # bytes of JSON; Teams' own limit is about 28 KB per message
CODE_LIMIT = 12_000

_LINK = re.compile(r"<((?:https?://|mailto:)[^\s<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_AT = re.compile(r"</?at>", re.IGNORECASE)
_EMOJI = {
    ":hourglass_flowing_sand:": "⏳",
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":warning:": "⚠️",
    ":no_entry:": "⛔",
}

# Builds the signed ``data`` of a button from its opsroom action id.
DataFactory = Callable[[str], dict[str, Any]]


def markdown(text: str) -> str:
    """The message subset as Adaptive Card Markdown; ``<at>`` tags from output are removed so
    command output can never mention anyone."""
    text = _AT.sub("", text)
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})" if m.group(2) else m.group(1), text)
    return _BOLD.sub(r"**\1**", text)


def _code(text: str, limit: int) -> str:
    return text if len(text) <= limit else "… (truncated)\n" + text[-(limit - 20) :]


def _button(button: Button | str, style: str, data: dict[str, Any]) -> dict[str, Any]:
    label = button if isinstance(button, str) else button.label
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": label[:50],
        "verb": ACTION_VERB,
        "data": data,
        "fallback": {"type": "Action.Submit", "title": label[:50], "data": {"verb": ACTION_VERB, **data}},
    }
    if style in ("positive", "destructive"):
        action["style"] = style
    return action


def _asking(button: Button, style: str, data: dict[str, Any]) -> dict[str, Any]:
    """A button that asks a question first (a Deny's "why?"): it shows a small card with a
    required text box and the real button, whose click carries the answer (``reason``) in
    its data. Teams does not send the click while the box is empty."""
    form = {
        "type": "AdaptiveCard",
        "body": [
            {
                "type": "Input.Text",
                "id": ANSWER_INPUT,
                "label": button.asks,
                "isRequired": True,
                "isMultiline": True,
                "maxLength": ANSWER_MAX,
                "placeholder": "e.g. not during the sale",
                "errorMessage": "Say why: the requester sees it, and it is audited.",
            }
        ],
        "actions": [_button(button.label, style, data)],
    }
    return {"type": "Action.ShowCard", "title": button.label[:50], "card": form}


def card(
    message: Message, mentions: list[tuple[str, str]], data_for: DataFactory, *, code_limit: int = CODE_LIMIT
) -> dict[str, Any]:
    """The Adaptive Card. ``mentions`` are (Entra object id, name) pairs."""
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    icon = _EMOJI.get(tone_emoji(message), "") if tone_emoji(message) in TONE_EMOJI.values() else ""
    if mentions:
        body.append({"type": "TextBlock", "wrap": True, "text": " ".join(f"<at>{name}</at>" for _, name in mentions)})
    for block in message.blocks or (Section(message.text),):
        if isinstance(block, Section):
            body.append({"type": "TextBlock", "wrap": True, "text": markdown(block.text)})
        elif isinstance(block, Code):
            body.append(
                {
                    "type": "TextBlock",
                    "wrap": True,
                    "fontType": "Monospace",
                    "text": _AT.sub("", _code(block.text, code_limit)),
                }
            )
        elif isinstance(block, Fields):
            body.append(
                {"type": "FactSet", "facts": [{"title": markdown(k), "value": markdown(v)} for k, v in block.items]}
            )
        elif isinstance(block, Context):
            body.append(
                {"type": "TextBlock", "wrap": True, "size": "Small", "isSubtle": True, "text": markdown(block.text)}
            )
        elif isinstance(block, Actions):
            for button in block.buttons:
                if button.url:
                    actions.append({"type": "Action.OpenUrl", "title": button.label[:50], "url": button.url})
                else:
                    style = {"primary": "positive", "danger": "destructive"}.get(button.style, "default")
                    make = _asking if button.asks else _button
                    actions.append(make(button, style, data_for(button.action_id)))
    if icon and body:
        first = next((b for b in body if b["type"] == "TextBlock" and not b["text"].startswith("<at>")), None)
        if first is not None:
            first["text"] = f"{icon} {first['text']}"
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        content["actions"] = actions
    if mentions:
        content["msteams"]["entities"] = [
            {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": uid, "name": name}}
            for uid, name in mentions
        ]
    return content


def activity_body(message: Message, mentions: list[tuple[str, str]], data_for: DataFactory) -> dict[str, Any]:
    """The message activity's fields: a plain-text summary and the card, shrunk to fit."""
    limit = CODE_LIMIT
    content = card(message, mentions, data_for, code_limit=limit)
    while len(json.dumps(content, ensure_ascii=False).encode()) > CARD_BUDGET and limit > 500:
        limit //= 2
        content = card(message, mentions, data_for, code_limit=limit)
    return {
        "text": _AT.sub("", message.text)[:1000],
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": content}],
    }
