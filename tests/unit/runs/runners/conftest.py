"""Fixtures for the runner tests: ``make_ctx`` builds a RunContext, ``collect`` runs a runner
to the end and returns its chunks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

import opsroom.runs.runners  # noqa: F401  (registers exec, http, python)
from opsroom.core import OutputChunk, RunContext, Runner

MakeCtx = Callable[..., RunContext]
Collect = Callable[[Runner, RunContext], Awaitable[list[OutputChunk]]]


def _make_ctx(
    args: Mapping[str, Any] | None = None, *, dry_run: bool = False, env: Mapping[str, str] | None = None
) -> RunContext:
    return RunContext(
        run_id=7,
        command="test",
        args=dict(args or {}),
        user="alice",
        channel="ops",
        timeout=30.0,
        dry_run=dry_run,
        env=dict(env or {}),
    )


async def _collect(runner: Runner, ctx: RunContext) -> list[OutputChunk]:
    return [chunk async for chunk in runner.execute(ctx)]


@pytest.fixture
def make_ctx() -> MakeCtx:
    return _make_ctx


@pytest.fixture
def collect() -> Collect:
    return _collect
