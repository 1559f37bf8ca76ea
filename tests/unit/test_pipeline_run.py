"""``Pipeline.run`` takes plain steps (the core ones) and async ones (plugins) alike, skips
non-built-in steps for built-ins, and closes the read connection the steps opened — only
when one was opened, on a stop, at the end and on an error — as ``with ctx._stack:`` did."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from opsroom.commands import Catalog, ChoiceLists
from opsroom.core import Place, Principal
from opsroom.engine.pipeline import Pipeline, Services, Step, StepContext, Stop


class _Reads:
    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[Any] = []

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        self.opened += 1
        try:
            yield self
        except BaseException as exc:
            self.closed.append(type(exc))
            raise
        else:
            self.closed.append(None)

    def execute(self, *args: Any) -> str:
        return "row"


def _ctx(reads: _Reads | None) -> StepContext:
    services = Services(
        catalog=Catalog([], ChoiceLists({})),
        policy=None,  # type: ignore[arg-type]
        guardrails=None,  # type: ignore[arg-type]
        engine_flags={},
        redact=lambda text: text,
        read=reads.read if reads is not None else None,
    )
    return StepContext("ping", Principal("alice"), Place("web", "ops"), services)


class _Awaitable:
    """A step that is a callable object returning an awaitable (not a coroutine function)."""

    def __call__(self, ctx: StepContext) -> Any:
        async def later() -> Stop | None:
            ctx.notes.append("awaitable")
            return None

        return later()


async def test_plain_and_async_steps_run_in_order_and_a_stop_ends_the_pipeline() -> None:
    def plain(ctx: StepContext) -> Stop | None:
        ctx.notes.append("plain")
        return None

    async def later(ctx: StepContext) -> Stop | None:
        ctx.notes.append("async")
        return None

    def stops(ctx: StepContext) -> Stop | None:
        ctx.notes.append("stops")
        return Stop("deny", "no")

    async def never(ctx: StepContext) -> Stop | None:
        raise AssertionError("after a stop")

    pipeline = Pipeline.build(
        [Step("route", plain), Step("parse", later), Step("authorize", _Awaitable()), Step("freeze", stops)]
        + [Step("lock", never)]
    )
    ctx = _ctx(None)
    stop = await pipeline.run(ctx)
    assert stop == Stop("deny", "no")
    assert ctx.notes == ["plain", "async", "awaitable", "stops"]
    assert await Pipeline.build([Step("route", plain), Step("parse", later)]).run(_ctx(None)) is None


async def test_an_async_stop_is_returned() -> None:
    async def stops(ctx: StepContext) -> Stop | None:
        return Stop("limited", "later")

    assert await Pipeline.build([Step("route", stops)]).run(_ctx(None)) == Stop("limited", "later")


async def test_the_read_connection_is_opened_on_first_use_and_closed_at_the_end() -> None:
    reads = _Reads()

    def looks(ctx: StepContext) -> Stop | None:
        conn = ctx.conn()
        assert conn is not None
        assert conn.execute("select") == "row"
        assert ctx._stack is not None
        return None

    def asks_only(ctx: StepContext) -> Stop | None:
        ctx.conn()
        assert ctx._stack is None  # nothing opened yet
        return None

    ctx = _ctx(reads)
    assert await Pipeline.build([Step("route", asks_only)]).run(ctx) is None
    assert reads.opened == 0 and ctx._stack is None
    ctx = _ctx(reads)
    assert (
        await Pipeline.build([Step("route", asks_only), Step("parse", looks), Step("freeze", looks)]).run(ctx) is None
    )
    assert reads.opened == 1 and reads.closed == [None]


async def test_an_error_in_a_step_closes_the_connection_with_the_error() -> None:
    reads = _Reads()

    def looks(ctx: StepContext) -> Stop | None:
        ctx.conn().execute("select")  # type: ignore[union-attr]
        return None

    async def fails(ctx: StepContext) -> Stop | None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await Pipeline.build([Step("route", looks), Step("parse", fails)]).run(_ctx(reads))
    assert reads.closed == [KeyError]
    with pytest.raises(KeyError):  # nothing opened: the error goes through as it is
        await Pipeline.build([Step("parse", fails)]).run(_ctx(reads))


async def test_a_suppressing_context_ends_the_pipeline_with_none() -> None:
    class Suppress:
        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: Any) -> bool:
            return True

        def execute(self, *args: Any) -> str:
            return "row"

    ctx = _ctx(None)
    ctx.services = Services(
        catalog=Catalog([], ChoiceLists({})),
        policy=None,  # type: ignore[arg-type]
        guardrails=None,  # type: ignore[arg-type]
        engine_flags={},
        redact=lambda text: text,
        read=Suppress,  # type: ignore[arg-type]
    )

    def fails(ctx: StepContext) -> Stop | None:
        ctx.conn().execute("select")  # type: ignore[union-attr]
        raise KeyError("boom")

    assert await Pipeline.build([Step("route", fails)]).run(ctx) is None


async def test_built_ins_skip_the_steps_not_meant_for_them() -> None:
    from opsroom.core import CommandSpec, Invocation

    seen: list[str] = []

    def mark(name: str, builtin: bool) -> Step:
        def step(ctx: StepContext) -> Stop | None:
            seen.append(name)
            return None

        return Step("freeze" if not builtin else "route", step, builtins=builtin)

    ctx = _ctx(None)
    ctx.inv = Invocation(CommandSpec("help", builtin=True), {}, "help", ctx.principal, ctx.place)
    assert await Pipeline.build([mark("a", True), mark("b", False)]).run(ctx) is None
    assert seen == ["a"]
