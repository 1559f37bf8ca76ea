"""The dialog a button opens when it asks something first — the Deny button's reason.

A click on such a button (its action_id starts with ``ASK_ACTION_PREFIX`` and carries the
question) opens a modal with ``views.open`` and the click's ``trigger_id`` (Slack accepts a
trigger once, within three seconds, which is why the click is answered at once and the modal
opened before anything else). The modal has one required text field; its
``private_metadata`` carries the signed button value and where the click happened. Its
submission (``view_submission``, ``callback_id`` ``CALLBACK_ID``) becomes the click's
``ActionEvent`` with ``value`` = the reason, which the engine checks exactly as a typed
``deny 42 REASON`` or the web chat's reason box (policy, approver rules, audit, the requester
told). A blank reason keeps the dialog open with an error; a trigger that expired falls back
to the plain click (opsroom then answers how to type the reason).
"""

from __future__ import annotations

import json
from typing import Any

from opsroom.chat.slack_render import ASK_ACTION_PREFIX, truncate

CALLBACK_ID = "opsroom_ask"
BLOCK_ID = "reason"
REASON_LIMIT = 300  # what the guardrails keep of a reason
TITLE_LIMIT = 24  # modal title, submit and close texts
METADATA_LIMIT = 3000


def asks(action: dict[str, Any]) -> str:
    """The question of an asking button's click, or "" for any other button."""
    action_id = str(action.get("action_id", ""))
    if not action_id.startswith(ASK_ACTION_PREFIX) or not action.get("value"):
        return ""
    return action_id.split(":", 1)[1] if ":" in action_id else ""


def ask_view(question: str, label: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The modal for ``question`` (None when the click cannot travel in its metadata)."""
    meta = json.dumps(metadata, separators=(",", ":"))
    if len(meta) > METADATA_LIMIT:
        return None
    title = label.strip()[:TITLE_LIMIT] or "opsroom"
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": BLOCK_ID,
                "label": {"type": "plain_text", "text": truncate(question, 2000)},
                "element": {
                    "type": "plain_text_input",
                    "action_id": BLOCK_ID,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": REASON_LIMIT,
                },
            }
        ],
    }


def submitted(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the click's metadata, the reason typed) of a ``view_submission``."""
    view = body.get("view") or {}
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    values = ((view.get("state") or {}).get("values") or {}).get(BLOCK_ID) or {}
    reason = str((values.get(BLOCK_ID) or {}).get("value") or "")
    return (meta if isinstance(meta, dict) else {}), " ".join(reason.split())
