"""Signed, single-use, expiring button action ids, and the handlers they dispatch to.

A button in chat carries ``action_id = mint(kind, payload)``. When it is clicked the adapter
hands the id back in an ``ActionEvent``; the engine verifies the signature and expiry, marks
the id used (so a replayed click does nothing), authorizes the clicker, and calls the handler
registered for ``kind`` (``approval.approve``, ``run.cancel``, ``alert.ack``…).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

from opsroom import jsontext
from opsroom.core import ActionEvent, Message, Principal
from opsroom.errors import Refusal


class ActionError(Refusal):
    """The button is forged, expired or already used."""


@dataclass(frozen=True)
class ActionRequest:
    kind: str
    payload: Mapping[str, Any]
    principal: Principal
    event: ActionEvent
    nonce: str


ActionHandler = Callable[[ActionRequest], Awaitable[Message | None]]


# json.dumps(body, separators=(",", ":"), sort_keys=True), without building an encoder per
# button (one is minted per run): the same bytes.
_ENCODE = jsontext.encoder(separators=(",", ":"), sort_keys=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ActionSigner:
    """HMAC-SHA256 over the kind, payload, expiry and a nonce. ``single_use`` ids are checked
    against the store by the engine (the nonce is the key)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def mint(self, kind: str, payload: Mapping[str, Any], *, ttl: float = 24 * 3600, single_use: bool = True) -> str:
        body = {"k": kind, "p": dict(payload), "e": int(time.time() + ttl), "n": secrets.token_hex(8), "s": single_use}
        raw = _ENCODE(body).encode()
        sig = hmac.digest(self._key, raw, "sha256")[:16]  # one-shot C HMAC (same bytes as hmac.new)
        return f"{_b64(raw)}.{_b64(sig)}"

    def open(self, action_id: str, *, now: float | None = None) -> tuple[str, dict[str, Any], str, bool]:
        """Returns (kind, payload, nonce, single_use) or raises ActionError."""
        try:
            raw_b64, sig_b64 = action_id.split(".", 1)
            raw, sig = _unb64(raw_b64), _unb64(sig_b64)
        except (ValueError, TypeError) as exc:
            raise ActionError("that button is not one of ours") from exc
        expected = hmac.digest(self._key, raw, "sha256")[:16]
        if not hmac.compare_digest(sig, expected):
            raise ActionError("that button is not one of ours")
        body = json.loads(raw)
        if body["e"] < (now if now is not None else time.time()):
            raise ActionError("that button has expired")
        return body["k"], body["p"], body["n"], bool(body.get("s", True))


class ActionRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, kind: str, handler: ActionHandler) -> None:
        self._handlers[kind] = handler

    def get(self, kind: str) -> ActionHandler | None:
        return self._handlers.get(kind)
