"""Driving a runner the way the engine does: a RunContext in, every OutputChunk collected."""

from __future__ import annotations

from typing import Any

from opsroom.core import OutputChunk, RunContext, Runner


def make_ctx(args: dict[str, Any] | None = None, *, dry_run: bool = False, timeout: float = 30.0) -> RunContext:
    return RunContext(
        run_id=1,
        command="test",
        args=args or {},
        user="alice",
        channel="ops",
        timeout=timeout,
        dry_run=dry_run,
    )


async def collect(runner: Runner, ctx: RunContext) -> list[OutputChunk]:
    return [chunk async for chunk in runner.execute(ctx)]


def final(chunks: list[OutputChunk]) -> OutputChunk:
    assert chunks, "the runner yielded nothing"
    return chunks[-1]


def progress(chunks: list[OutputChunk]) -> list[str]:
    return [c.text for c in chunks if c.stream == "progress"]
