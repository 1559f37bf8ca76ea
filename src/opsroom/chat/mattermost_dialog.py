"""The reason form of a Mattermost button that asks a question (a Deny's "why?").

Why a dialog: Mattermost buttons carry no text, so a Deny click alone cannot say why. The
click's ``trigger_id`` (valid 3 seconds, bound to the clicker) opens an interactive dialog
(``POST /actions/dialogs/open``) with one required textarea; Mattermost POSTs the submission
(``type: dialog_submission``, ``callback_id``, ``state``, ``submission``, ``user_id``,
``channel_id``, ``cancelled``) to our dialog URL, with ``user_id`` taken from the session.

The submission carries no token of Mattermost's, so it is authenticated by its ``state``:
what the click was (the engine's signed action id, channel, post, clicker), a nonce and an
expiry, sealed with our HMAC. A forged or altered state, another user or channel, an expired
form is refused; each nonce counts once (and the engine's durable dedup drops a replay after a
restart too). Limits follow Mattermost's ``Dialog.IsValid`` (server/public/model/integration_action.go).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

CALLBACK_ID = "opsroom.reason"
FIELD = "reason"
FORM_SECONDS = 15 * 60  # time to type a reason before the form stops counting
TITLE_MAX = 24  # DialogTitleMaxLength
DISPLAY_NAME_MAX = 24  # DialogElementDisplayNameMaxLength
HELP_TEXT_MAX = 150  # DialogElementHelpTextMaxLength
REASON_MAX = 300  # what the guardrails keep of a reason


@dataclass(frozen=True)
class Asked:
    """The click a reason form answers."""

    action_id: str
    channel: str
    post_id: str
    user: str
    nonce: str


def sign_button(key: bytes, channel: str, action_id: str, asks: str = "", label: str = "", hint: str = "") -> str:
    """The HMAC a button's context carries: over the channel and action id, and for a button
    that asks a question over the question, label and typed hint too (none can be moved)."""
    text = f"{channel}\n{action_id}" if not asks else json.dumps([channel, action_id, asks, label, hint])
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def seal(key: bytes, asked: Asked, now: float | None = None) -> str:
    body = {
        "a": asked.action_id,
        "c": asked.channel,
        "p": asked.post_id,
        "u": asked.user,
        "n": asked.nonce,
        "x": int((time.time() if now is None else now) + FORM_SECONDS),
    }
    raw = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    return raw + "." + hmac.new(key, b"dialog\0" + raw.encode(), hashlib.sha256).hexdigest()


def unseal(key: bytes, state: str, now: float | None = None) -> Asked | None:
    """The click of a sealed state, or None when it is forged, altered or expired."""
    raw, _, sig = state.partition(".")
    if not hmac.compare_digest(
        sig.encode(), hmac.new(key, b"dialog\0" + raw.encode(), hashlib.sha256).hexdigest().encode()
    ):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(raw.encode()))
        asked = Asked(body["a"], body["c"], body["p"], body["u"], body["n"])
        expires = int(body["x"])
    except (ValueError, KeyError, TypeError):
        return None
    if (time.time() if now is None else now) > expires:
        return None
    return asked


def new_nonce() -> str:
    return uuid.uuid4().hex


def reason_dialog(label: str, asks: str, hint: str, state: str) -> dict[str, Any]:
    """The dialog: one required textarea ``reason``; submitting without one is not possible in
    the clients, and refused here too."""
    intro = asks + (f"\n\nOr type `{hint}` in the channel." if hint else "")
    return {
        "callback_id": CALLBACK_ID,
        "title": (label.strip() or "Answer")[:TITLE_MAX],
        "introduction_text": intro,
        "elements": [
            {
                "display_name": "Reason",
                "name": FIELD,
                "type": "textarea",
                "placeholder": "e.g. not during the sale",
                "help_text": asks[:HELP_TEXT_MAX],
                "optional": False,
                "min_length": 1,
                "max_length": REASON_MAX,
            }
        ],
        "submit_label": (label.strip() or "Send")[:TITLE_MAX],
        "notify_on_cancel": False,
        "state": state,
    }
