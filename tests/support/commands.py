"""Python callables used as `python` runners by test configs."""

from __future__ import annotations

import asyncio
import os
from typing import AsyncIterator

from opsroom.core import OutputChunk, RunContext


async def sleepy(ctx: RunContext) -> AsyncIterator[OutputChunk]:
    yield OutputChunk("starting")
    await asyncio.sleep(float(ctx.args.get("seconds", 30)))
    yield OutputChunk("done", exit_code=0)


async def leak(ctx: RunContext) -> str:
    # Prints a configured secret and a token shape: both must be redacted.
    return f"token={os.environ.get('DEMO_API_TOKEN', '')} slack=xoxb-123456789012-abcdefghijkl"


async def echo(ctx: RunContext) -> str:
    return str(ctx.args.get("text", ""))
