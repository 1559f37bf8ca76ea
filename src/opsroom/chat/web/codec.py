"""The Message model as JSON, so a bot message can be stored and rendered again later
(history, edits) exactly as it was posted."""

from __future__ import annotations

from typing import Any

from opsroom.core import Actions, Block, Button, Code, Context, Fields, Message, Principal, Section

TONES = ("info", "running", "success", "failure", "warning", "denied")
STYLES = ("default", "primary", "danger")


def _block(block: Block) -> dict[str, Any]:
    if isinstance(block, Section):
        return {"type": "section", "text": block.text}
    if isinstance(block, Fields):
        return {"type": "fields", "items": [[k, v] for k, v in block.items]}
    if isinstance(block, Code):
        return {"type": "code", "text": block.text, "language": block.language}
    if isinstance(block, Context):
        return {"type": "context", "text": block.text}
    return {
        "type": "actions",
        "buttons": [
            {
                "label": b.label,
                "action_id": b.action_id,
                "style": b.style,
                "fallback": b.fallback,
                "url": b.url,
                "asks": b.asks,
            }
            for b in block.buttons
        ],
    }


def encode(message: Message) -> dict[str, Any]:
    return {
        "text": message.text,
        "tone": message.tone,
        "blocks": [_block(b) for b in message.blocks],
        "mentions": [p.name for p in message.mentions],
    }


def _decode_block(data: dict[str, Any]) -> Block | None:
    kind = data.get("type")
    if kind == "section":
        return Section(str(data.get("text", "")))
    if kind == "fields":
        return Fields(tuple((str(k), str(v)) for k, v in data.get("items", [])))
    if kind == "code":
        return Code(str(data.get("text", "")), str(data.get("language", "")))
    if kind == "context":
        return Context(str(data.get("text", "")))
    if kind == "actions":
        return Actions(
            tuple(
                Button(
                    str(b.get("label", "")),
                    str(b.get("action_id", "")),
                    b.get("style") if b.get("style") in STYLES else "default",
                    str(b.get("fallback", "")),
                    str(b.get("url", "")),
                    str(b.get("asks", "")),
                )
                for b in data.get("buttons", [])
            )
        )
    return None


def decode(data: dict[str, Any]) -> Message:
    blocks = tuple(b for b in (_decode_block(d) for d in data.get("blocks", [])) if b is not None)
    tone = data.get("tone") if data.get("tone") in TONES else "info"
    mentions = tuple(Principal(str(n)) for n in data.get("mentions", []))
    return Message(str(data.get("text", "")), blocks, tone, mentions)  # type: ignore[arg-type]


def button_ids(data: dict[str, Any] | None) -> set[str]:
    """The action ids of the buttons a stored message carries (a click must name one)."""
    if not data:
        return set()
    return {
        str(b.get("action_id", ""))
        for d in data.get("blocks", [])
        if d.get("type") == "actions"
        for b in d.get("buttons", [])
        if b.get("action_id")
    }
