"""A Python runner that fails with secrets in its exception message (the corpus test calls it)."""

from __future__ import annotations

from opsroom.core import RunContext


async def explode(ctx: RunContext) -> str:
    raise RuntimeError(f"could not connect with {ctx.args.get('text', '')}")
