"""The door of Slack's HTTP endpoints: a request is authenticated over its raw bytes, checked
for replay and for the shape Slack sends before Bolt (or anything else) parses it.

Slack signs ``v0:{timestamp}:{raw body}`` with the app's signing secret (HMAC-SHA256) and
Bolt would reject timestamps more than five minutes off, but Bolt parses the body first: a
malformed or deeply nested body was a 500 before any signature was checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from opsroom.web import intake

WINDOW_SECONDS = 300


class RequestGate:
    def __init__(self, signing_secret: str) -> None:
        self._key = signing_secret.encode()
        self._replays = intake.ReplayGuard(float(WINDOW_SECONDS))

    def refusal(self, request: Request, body: bytes) -> Response | None:
        """Authenticate before anything parses: the signature over the raw bytes with a
        numeric timestamp inside Slack's five-minute window (401), the same signature a
        second time (409: a replay; ``X-Slack-No-Retry`` so a genuine duplicate is not
        resent), then a body that is what Slack sends (400). Nothing rejected is logged."""
        stamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not stamp.isascii() or not stamp.isdigit() or abs(time.time() - int(stamp)) > WINDOW_SECONDS:
            return PlainTextResponse("missing, malformed or stale X-Slack-Request-Timestamp", status_code=401)
        expected = (
            "v0=" + hmac.new(self._key, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )  # over the raw bytes, UTF-8 or not
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return PlainTextResponse("invalid request signature", status_code=401)
        if not self._replays.first_time(signature):
            return PlainTextResponse(
                "this signed request was already received (replay refused)",
                status_code=409,
                headers={"X-Slack-No-Retry": "1"},
            )
        try:
            check_shape(request.url.path.rsplit("/", 1)[-1], body)
        except intake.BadBody as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return None


def check_shape(endpoint: str, body: bytes) -> None:
    """``BadBody`` unless the body is what Slack sends to ``endpoint``: a slash command form,
    an interaction form whose ``payload`` is a JSON object, or an Events API JSON object."""
    if endpoint == "commands":
        if not str(intake.form(body).get("command", "")).startswith("/"):
            raise intake.BadBody("a slash command needs a `command` field")
        return
    if endpoint == "interactions":
        fields = intake.form(body)
        if "payload" not in fields:
            raise intake.BadBody("an interaction needs a `payload` field")
        body = fields["payload"].encode()
    data = intake.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise intake.BadBody("expected a JSON object with a `type`")


def delivery_digest(body: dict[str, Any]) -> str:
    """A delivery id from a body (for slash commands sent without a trigger_id)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]
