"""The python runner: async generators, coroutines, exceptions, and loading by dotted path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from opsroom.core import ConfigError, OutputChunk, RunContext, RunnerSpec
from opsroom.features import build_runner


def python_runner(**options):  # type: ignore[no-untyped-def]
    return build_runner(RunnerSpec("python", options))


async def restart_steps(ctx: RunContext) -> AsyncIterator[OutputChunk | str]:
    yield f"restarting {ctx.args['service']}"
    yield OutputChunk("waiting for health", "progress")
    yield "healthy"


async def returns_text(ctx: RunContext) -> str:
    return f"{ctx.args['service']} is up (asked by {ctx.user})"


async def returns_nothing(ctx: RunContext) -> None:
    return None


async def returns_failed_chunk(ctx: RunContext) -> OutputChunk:
    return OutputChunk("3 pods not ready", "stderr", exit_code=2)


async def raises(ctx: RunContext) -> str:
    raise RuntimeError("database unreachable: connection timed out\ndetails on line two")


async def fails_midway(ctx: RunContext) -> AsyncIterator[str]:
    yield "step 1 ok"
    raise ValueError("step 2 failed")


async def yields_garbage(ctx: RunContext) -> AsyncIterator[object]:
    yield 42


async def stops_with_exit_code(ctx: RunContext) -> AsyncIterator[OutputChunk]:
    yield OutputChunk("done early", exit_code=0)
    yield OutputChunk("never shown")


async def handles_dry_run(ctx: RunContext) -> str:
    return "would restart api" if ctx.dry_run else "restarted api"


def plain_function(ctx: RunContext) -> str:
    return "sync"


async def test_async_generator_output_streams_then_succeeds(make_ctx, collect):
    chunks = await collect(python_runner(function=restart_steps), make_ctx({"service": "api"}))
    assert chunks == [
        OutputChunk("restarting api"),
        OutputChunk("waiting for health", "progress"),
        OutputChunk("healthy"),
        OutputChunk("", exit_code=0),
    ]


async def test_coroutine_returning_text(make_ctx, collect):
    chunks = await collect(python_runner(function=returns_text), make_ctx({"service": "api"}))
    assert chunks == [OutputChunk("api is up (asked by alice)", exit_code=0)]  # its last word: one chunk


async def test_coroutine_returning_none_succeeds_silently(make_ctx, collect):
    assert await collect(python_runner(function=returns_nothing), make_ctx()) == [OutputChunk("", exit_code=0)]


async def test_returned_chunk_with_exit_code_is_final(make_ctx, collect):
    chunks = await collect(python_runner(function=returns_failed_chunk), make_ctx())
    assert chunks == [OutputChunk("3 pods not ready", "stderr", exit_code=2)]


async def test_yielded_exit_code_ends_the_run(make_ctx, collect):
    chunks = await collect(python_runner(function=stops_with_exit_code), make_ctx())
    assert chunks == [OutputChunk("done early", exit_code=0)]


async def test_exception_is_a_failed_run_with_its_message_and_no_traceback(make_ctx, collect, caplog):
    with caplog.at_level(logging.ERROR):
        chunks = await collect(python_runner(function=raises), make_ctx())
    assert chunks == [OutputChunk("database unreachable: connection timed out", "stderr", exit_code=1)]
    assert not any("Traceback" in c.text for c in chunks)
    assert "Traceback" in caplog.text  # the log keeps the details


async def test_exception_after_some_output_keeps_the_output(make_ctx, collect):
    chunks = await collect(python_runner(function=fails_midway), make_ctx())
    assert chunks == [OutputChunk("step 1 ok"), OutputChunk("step 2 failed", "stderr", exit_code=1)]


async def test_yielding_something_else_is_a_failed_run(make_ctx, collect):
    chunks = await collect(python_runner(function=yields_garbage), make_ctx())
    assert chunks[-1].exit_code == 1 and "expected a string or OutputChunk" in chunks[-1].text


async def test_cancellation_reaches_the_function(make_ctx):
    cleaned_up = asyncio.Event()

    async def long_job(ctx: RunContext) -> AsyncIterator[str]:
        try:
            yield "started"
            await asyncio.sleep(60)
        finally:
            cleaned_up.set()

    runner = python_runner(function=long_job)

    async def consume() -> None:
        async for _ in runner.execute(make_ctx()):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()


async def test_dry_run_calls_nothing_unless_supported(make_ctx, collect):
    calls: list[str] = []

    async def restart(ctx: RunContext) -> str:
        calls.append("called")
        return "restarted"

    chunks = await collect(python_runner(function=restart), make_ctx(dry_run=True))
    assert calls == []
    assert len(chunks) == 1 and chunks[0].exit_code == 0
    assert chunks[0].text.startswith("dry run: would call ") and "restart" in chunks[0].text

    supported = python_runner(function=handles_dry_run, supports_dry_run=True)
    assert (await collect(supported, make_ctx(dry_run=True)))[0].text == "would restart api"


async def test_callable_by_dotted_path(make_ctx, collect):
    runner = python_runner(callable=f"{__name__}:returns_text")
    chunks = await collect(runner, make_ctx({"service": "db"}))
    assert chunks[0].text == "db is up (asked by alice)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set exactly one of 'function'"),
        ({"function": returns_text, "callable": "x:y"}, "set exactly one of 'function'"),
        ({"callable": "no_such_module_opsroom:run"}, "cannot import module 'no_such_module_opsroom'"),
        ({"callable": "json:no_such_attr"}, "'json' has no attribute 'no_such_attr'"),
        ({"callable": "json.dumps"}, "must look like 'package.module:function'"),
        ({"callable": "json:__doc__"}, "is not callable"),
        ({"function": "not callable"}, "'function' must be callable"),
        ({"function": plain_function}, "must be defined with 'async def'"),
        ({"function": returns_text, "args": []}, "unknown option 'args'"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match="python runner") as err:
        python_runner(**options)
    assert message in str(err.value)
