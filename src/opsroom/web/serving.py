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
