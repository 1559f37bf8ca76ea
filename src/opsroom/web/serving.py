"""How ``opsroom run`` serves: the event loop that keeps the web chat answering fast under
load (measured with ``bench/webchat.py``; see docs/webchat.md). Start-up objects are kept
out of the garbage collector by ``System.start``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``uvicorn[standard]`` brings it, and httptools,
    which uvicorn picks by itself): less CPU per request and per WebSocket frame. None means
    asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def websocket_protocol() -> Callable[..., asyncio.Protocol] | str:
    """uvicorn's ``ws`` setting: its "auto" WebSocket protocol, imported at the first upgrade
    rather than when the server starts. uvicorn imports it in ``Config.load`` — the websockets
    library (17 modules) and uvicorn's protocol, ≈ 0.5 MiB an idle server keeps though nobody
    has opened the web chat yet (docs/performance.md, "Wave 8 — rss9"). The first upgrade pays
    the import once (≈ 10–15 ms); an upgrade runs on the event loop's thread, and a failing import
    fails that upgrade and the next ones alike. Without a WebSocket library: "auto", as before."""
    from importlib.util import find_spec

    if find_spec("websockets") is None and find_spec("wsproto") is None:
        return "auto"  # uvicorn says no WebSocket library is installed, as it always did

    def protocol(**parts: object) -> asyncio.Protocol:
        from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

        assert AutoWebSocketsProtocol is not None  # a library was found above
        return AutoWebSocketsProtocol(**parts)

    return protocol
