"""What Slack and Mattermost refuse, as checks the fakes apply to every post and the renderer
tests apply to every message opsroom can produce.

Slack Block Kit (https://api.slack.com/reference/block-kit/blocks,
https://api.slack.com/reference/block-kit/block-elements#button,
https://api.slack.com/reference/block-kit/composition-objects#text): at most 50 blocks a
message; a section's text 1–3,000 characters, at most 10 fields of 1–2,000; a context at most
10 elements; an actions block at most 25 elements; a button's text 1–75 characters, ``value``
at most 2,000, ``url`` at most 3,000, ``action_id`` at most 255 and unique in the message;
chat.postMessage's ``text`` is cut at 40,000 (we treat more as an error).
Mattermost (server/public/model/post.go): a post's message at most 16,383 runes
(``PostMessageMaxRunesV2``); buttons need a non-empty name and an absolute integration URL.
"""

from __future__ import annotations

from typing import Any


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def block_kit_errors(text: str, blocks: list[dict[str, Any]] | None) -> list[str]:
    errors: list[str] = []
    if len(text) > 40_000:
        errors.append("text over 40000")
    if not blocks:
        if not text.strip():
            errors.append("no_text")
        return errors
    if len(blocks) > 50:
        errors.append(f"{len(blocks)} blocks (max 50)")
    action_ids: list[str] = []
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"block {i}: section without text or fields")
            if "text" in block and not 1 <= _text_len(block["text"]) <= 3000:
                errors.append(f"block {i}: section text length {_text_len(block['text'])}")
            if not block["text"]["text"].strip() if "text" in block else False:
                errors.append(f"block {i}: blank section text")
            fields = block.get("fields", [])
            if len(fields) > 10:
                errors.append(f"block {i}: {len(fields)} fields")
            errors += [f"block {i}: field length {_text_len(f)}" for f in fields if not 1 <= _text_len(f) <= 2000]
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                errors.append(f"block {i}: {len(elements)} context elements")
            errors += [
                f"block {i}: context text {_text_len(e)}"
                for e in elements
                if not 1 <= _text_len(e) <= 3000 or not e["text"].strip()
            ]
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 25:
                errors.append(f"block {i}: {len(elements)} actions")
            for e in elements:
                label = e.get("text", {}).get("text", "")
                if not 1 <= len(label) <= 75 or not label.strip():
                    errors.append(f"block {i}: button label length {len(label)}")
                if len(e.get("value", "")) > 2000:
                    errors.append(f"block {i}: button value over 2000")
                if len(e.get("url", "")) > 3000:
                    errors.append(f"block {i}: button url over 3000")
                if not 1 <= len(e.get("action_id", "")) <= 255:
                    errors.append(f"block {i}: action_id length")
                action_ids.append(e.get("action_id", ""))
        else:
            errors.append(f"block {i}: unexpected type {kind!r}")
    if len(action_ids) != len(set(action_ids)):
        errors.append("duplicate action_id")
    return errors


def mattermost_post_errors(post: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    message = post.get("message", "")
    if len(message) > 16_383:
        errors.append(f"message is {len(message)} runes (max 16383)")
    for attachment in (post.get("props") or {}).get("attachments") or []:
        for action in attachment.get("actions") or []:
            if not action.get("name", "").strip():
                errors.append("button without a name")
            url = (action.get("integration") or {}).get("url", "")
            if not url.startswith(("http://", "https://")):
                errors.append(f"button integration url {url!r} is not absolute")
    return errors
