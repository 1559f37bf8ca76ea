"""The ssh runner against a real sshd on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import asyncssh
import pytest

from opsroom.config.integrations import SshSettings
from opsroom.core import OutputChunk, RunContext
from opsroom.integrations.ssh import SshError, build

pytestmark = pytest.mark.slow


def settings(sshd, known_hosts: Path | None = None) -> SshSettings:  # type: ignore[no-untyped-def]
    return SshSettings.model_validate(
        {
            "known_hosts": str(known_hosts or sshd.known_hosts),
            "keys": {"ops": {"file": str(sshd.user_key_file)}},
            "inventories": {
                "lab": {
                    "user": sshd.user,
                    "key": "ops",
                    "hosts": {
                        "web1": {"address": "127.0.0.1", "port": sshd.port},
                        "web2": {"address": "127.0.0.1", "port": sshd.port},
                    },
                }
            },
        }
    )


def ctx(args: dict[str, object], *, dry_run: bool = False) -> RunContext:
    return RunContext(run_id=1, command="disk", args=args, user="alice", channel="#ops", timeout=30, dry_run=dry_run)


async def collect(runner, context: RunContext) -> list[OutputChunk]:  # type: ignore[no-untyped-def]
    return [chunk async for chunk in runner.execute(context)]


def stdout(chunks: list[OutputChunk]) -> str:
    return "".join(c.text for c in chunks if c.stream == "stdout")


NASTY = "x; touch /tmp/opsroom-pwned $(touch /tmp/opsroom-pwned2) `id` | cat && echo ' \" \\ > /dev/null &"


async def test_shell_metacharacters_arrive_as_one_literal_argument(sshd) -> None:  # type: ignore[no-untyped-def]
    runner = build(
        {
            "host": "{host}",
            "inventory": "lab",
            "argv": ["python3", "-c", "import json,sys; print(json.dumps(sys.argv[1:]))", "{text}"],
        },
        settings(sshd),
    )
    chunks = await collect(runner, ctx({"host": "web1", "text": NASTY}))
    assert json.loads(stdout(chunks)) == [NASTY]
    assert chunks[-1].exit_code == 0
    assert not Path("/tmp/opsroom-pwned").exists()
    assert not Path("/tmp/opsroom-pwned2").exists()


async def test_exit_status_becomes_exit_code_and_stderr_is_streamed(sshd) -> None:  # type: ignore[no-untyped-def]
    runner = build({"host": "web2", "inventory": "lab", "argv": ["ls", "/definitely/not/here"]}, settings(sshd))
    chunks = await collect(runner, ctx({}))
    assert chunks[-1].exit_code == 2
    assert "No such file" in "".join(c.text for c in chunks if c.stream == "stderr")
    assert chunks[-1].result == "exit 2 on web2"


async def test_unknown_host_key_is_refused(sshd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {other}\n")
    runner = build({"host": "web1", "inventory": "lab", "argv": ["true"]}, settings(sshd, wrong))
    with pytest.raises(SshError, match="host key is not trusted"):
        await collect(runner, ctx({}))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    runner = build({"host": "web1", "inventory": "lab", "argv": ["true"]}, settings(sshd, empty))
    with pytest.raises(SshError, match="host key is not trusted"):
        await collect(runner, ctx({}))


async def test_host_outside_the_inventory_is_refused_before_connecting(sshd) -> None:  # type: ignore[no-untyped-def]
    runner = build({"host": "{host}", "inventory": "lab", "argv": ["true"]}, settings(sshd))
    with pytest.raises(SshError, match="not in inventory 'lab'"):
        await collect(runner, ctx({"host": "127.0.0.1"}))


TICKER = "import time\nwhile True:\n    print('tick-41.5', flush=True)\n    time.sleep(0.1)"


async def test_cancel_closes_the_channel_and_stops_the_remote_program(sshd) -> None:  # type: ignore[no-untyped-def]
    # sshd refuses "signal" requests for root sessions (our CI user), so what stops the remote
    # program here is the closed channel: its next write fails.
    runner = build({"host": "web1", "inventory": "lab", "argv": ["python3", "-c", TICKER]}, settings(sshd))
    started = asyncio.Event()

    async def consume() -> None:
        async for chunk in runner.execute(ctx({})):
            if "tick" in chunk.text:
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    assert _remote_sleeps() >= 1  # the remote program is running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if _remote_sleeps() == 0:
            break
        await asyncio.sleep(0.1)
    assert _remote_sleeps() == 0


def _remote_sleeps() -> int:
    out = subprocess.run(["pgrep", "-f", "tick-41.5"], capture_output=True, text=True).stdout
    return len(out.split())


async def test_dry_run_says_what_it_would_run_without_connecting(sshd) -> None:  # type: ignore[no-untyped-def]
    runner = build({"host": "web1", "inventory": "lab", "argv": ["rm", "-rf", "{path}"]}, settings(sshd))
    chunks = await collect(runner, ctx({"path": "/tmp/a b"}, dry_run=True))
    assert "would run on" in chunks[0].text and "rm -rf '/tmp/a b'" in chunks[0].text
    assert chunks[-1].exit_code == 0
