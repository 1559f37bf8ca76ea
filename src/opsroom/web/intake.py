"""Hostile bodies stop at the door: one size cap for every HTTP request (chunked ones too),
JSON and form decoding that turn malformed, non-UTF-8, deeply nested, huge-number and NaN
input into a ``BadBody`` (a 4xx) instead of a traceback, and a guard that refuses a signed
request seen before.

The order at every entry point is: size cap (``BodyLimit``, before the app runs) → the
caller's credentials over the raw bytes (each endpoint) → a replay check → only then
``loads``/``form``. See docs/security.md.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections import OrderedDict
from typing import Any, Awaitable, Callable, MutableMapping

from opsroom.errors import Refusal

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: chat and webhook payloads are a few KB
MAX_DEPTH = 32  # nesting no chat platform or monitoring tool sends
MAX_INT_DIGITS = 40

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BadBody(Refusal, ValueError):
    """The body cannot be what the endpoint expects; ``str(exc)`` is a short reason for the caller."""


# -- decoding ------------------------------------------------------------------------------------


def text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("the body is not valid UTF-8") from None


def _no_constant(name: str) -> Any:
    raise BadBody(f"{name} is not a JSON number")


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadBody(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadBody("a number is too large")
    return value


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON, or ``BadBody``: strict UTF-8, no NaN/Infinity, no number beyond what a float or
    a 40-digit integer holds, nesting at most ``max_depth`` deep.

    The depth is measured on the parsed value (its containers only), which costs a fraction
    of scanning the text; a body nested past what the parser itself allows is refused as too
    deep as well."""
    doc = text(body) if isinstance(body, bytes) else body
    try:
        value = json.loads(doc, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(f"the JSON is nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        raise BadBody(f"the body is not valid JSON ({type(exc).__name__})") from None
    if _too_deep(value, max_depth):
        raise BadBody(f"the JSON is nested more than {max_depth} levels deep")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep (``{}`` is 1, ``{"a": []}`` is 2)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        inner: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            inner.extend(item for item in items if isinstance(item, dict | list))
        level = inner
    return False


def form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (strict UTF-8, also after unquoting)."""
    raw = text(body)
    try:
        pairs = urllib.parse.parse_qsl(
            raw, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=200
        )
    except (ValueError, UnicodeDecodeError):
        raise BadBody("the body is not a valid form") from None
    return dict(pairs)


def finite_timestamp(value: str) -> float | None:
    """A signature timestamp as seconds, or None for anything else (``nan``, ``inf``, ``1e999``,
    words): a timestamp that compares false with everything must not pass a window check."""
    try:
        stamp = float(value.strip())
    except (ValueError, AttributeError):
        return None
    return stamp if math.isfinite(stamp) else None


# -- replays -------------------------------------------------------------------------------------


class ReplayGuard:
    """Signatures accepted within the signing window. A signed request is valid for that window,
    so within it the same signature a second time is a replay: refused, not answered 200."""

    def __init__(self, window: float = 300.0, size: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._size = size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, signature: str) -> bool:
        """True (and remembered) the first time ``signature`` is seen within the window."""
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= 2 * self.window and len(self._seen) < self._size:
                break
            self._seen.pop(oldest)
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True


# -- the size cap --------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` gets a 413 before any route
    sees it, whether it declares its length or arrives chunked. The body is read here (at most
    ``max_bytes``) and handed on whole, so no endpoint can forget the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, 413 if declared.isdigit() else 400)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, status: int) -> None:
        reason = (
            f"the request body is larger than {self.max_bytes} bytes"
            if status == 413
            else "Content-Length is not a number"
        )
        payload = json.dumps({"error": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"connection", b"close"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
