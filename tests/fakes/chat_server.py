"""Serve an ASGI app on a free 127.0.0.1 port inside the test's event loop (uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) while the app is being served.

    uvicorn binds port 0 itself (the kernel picks a free port, no race). Handing uvicorn a
    pre-bound socket instead costs ~45 ms per request here: the accepted connections then
    miss TCP_NODELAY and every response waits for a delayed ACK.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # raises the start-up error
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        # Open websockets would keep a graceful shutdown waiting; they are test fakes.
        server.force_exit = True
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:  # a client that never lets go must not hang the test run
            pass
