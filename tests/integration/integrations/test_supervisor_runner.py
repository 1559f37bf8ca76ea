"""The supervisor runner against a real supervisord started by the test (see conftest.py)."""

from __future__ import annotations

import pytest

from opsroom.config.integrations import SupervisorSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.integrations.supervisor import SupervisorError, build

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(supervisord, monkeypatch: pytest.MonkeyPatch) -> SupervisorSettings:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SUP_USER", "ops")
    monkeypatch.setenv("SUP_PASSWORD", "s3cret")
    return SupervisorSettings.model_validate(
        {"endpoints": {"app1": {"url": supervisord.url, "username_env": "SUP_USER", "password_env": "SUP_PASSWORD"}}}
    )


def ctx(args: dict[str, object], *, dry_run: bool = False) -> RunContext:
    return RunContext(
        run_id=1,
        command="restart-worker",
        args=args,
        user="alice",
        channel="#ops",
        timeout=30,
        dry_run=dry_run,
    )


async def run(runner, context: RunContext) -> list[OutputChunk]:  # type: ignore[no-untyped-def]
    return [c async for c in runner.execute(context)]


def pid_of(chunks: list[OutputChunk]) -> int:
    text = chunks[-1].result
    return int(text.split("pid ")[1].split(",")[0])


async def test_restart_changes_the_pid(settings: SupervisorSettings) -> None:
    status = build({"endpoint": "app1", "action": "status", "program": "{program}"}, settings)
    first = await run(status, ctx({"program": "worker"}))
    assert "worker RUNNING" in first[-1].result
    old_pid = int(first[-1].result.split("pid ")[1].split(",")[0])

    restart = build({"endpoint": "app1", "action": "restart", "program": "{program}"}, settings)
    chunks = await run(restart, ctx({"program": "worker"}))
    assert chunks[-1].exit_code == 0
    assert f"pid {old_pid} →" in chunks[-1].result
    again = await run(status, ctx({"program": "worker"}))
    new_pid = int(again[-1].result.split("pid ")[1].split(",")[0])
    assert new_pid != old_pid
    assert f"→ {new_pid}" in chunks[-1].result


async def test_dry_run_restart_changes_nothing(settings: SupervisorSettings) -> None:
    status = build({"endpoint": "app1", "action": "status", "program": "worker"}, settings)
    before = (await run(status, ctx({})))[-1].result
    restart = build({"endpoint": "app1", "action": "restart", "program": "worker"}, settings)
    chunks = await run(restart, ctx({}, dry_run=True))
    assert any("dry run: would restart worker" in c.text for c in chunks)
    assert (await run(status, ctx({})))[-1].result.split(",")[0] == before.split(",")[0]


async def test_program_that_fails_to_start_is_a_failed_run_with_its_stderr(
    settings: SupervisorSettings,
) -> None:
    start = build({"endpoint": "app1", "action": "start", "program": "broken"}, settings)
    chunks = await run(start, ctx({}))
    assert chunks[-1].exit_code == 1
    assert "start broken failed" in chunks[-1].result
    assert "boom: settings.ini missing" in "".join(c.text for c in chunks if c.stream == "stderr")


async def test_unknown_program_and_bad_names_are_refused_clearly(settings: SupervisorSettings) -> None:
    runner = build({"endpoint": "app1", "action": "restart", "program": "{program}"}, settings)
    with pytest.raises(SupervisorError, match="no program named 'nope'"):
        await run(runner, ctx({"program": "nope"}))
    with pytest.raises(SupervisorError, match="not a supervisord program name"):
        await run(runner, ctx({"program": "worker; rm -rf /"}))


async def test_wrong_password_is_reported_without_the_password(supervisord, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SUP_USER", "ops")
    monkeypatch.setenv("SUP_PASSWORD", "wrong-pass-123")
    settings = SupervisorSettings.model_validate(
        {"endpoints": {"app1": {"url": supervisord.url, "username_env": "SUP_USER", "password_env": "SUP_PASSWORD"}}}
    )
    runner = build({"endpoint": "app1", "action": "status", "program": "worker"}, settings)
    with pytest.raises(SupervisorError, match="refused the credentials") as err:
        await run(runner, ctx({}))
    assert "wrong-pass-123" not in str(err.value)


def test_options_are_validated() -> None:
    settings = SupervisorSettings()
    with pytest.raises(ConfigError, match="unknown option 'prog'"):
        build({"url": "http://127.0.0.1:9001/RPC2", "action": "restart", "prog": "x"}, settings)
    with pytest.raises(ConfigError, match="action must be one of"):
        build({"url": "http://127.0.0.1:9001/RPC2", "action": "reboot", "program": "x"}, settings)
    with pytest.raises(ConfigError, match="no endpoint 'app9'"):
        build({"endpoint": "app9", "action": "status", "program": "x"}, settings)
