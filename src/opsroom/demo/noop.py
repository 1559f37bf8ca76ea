"""A trivial command for benchmarks and smoke tests: answers at once."""

from opsroom.core import RunContext


async def pong(ctx: RunContext) -> str:
    return str(ctx.args.get("text", "pong"))
