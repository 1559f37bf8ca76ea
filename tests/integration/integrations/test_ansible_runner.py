"""The ansible runner against localhost with connection local (real ansible-playbook)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from opsroom.config.integrations import AnsibleSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.integrations.ansible import build

pytestmark = pytest.mark.slow

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: write the marker
      ansible.builtin.copy:
        dest: "{{ out_dir }}/marker.txt"
        content: "{{ message }}"
    - name: fail when asked
      ansible.builtin.command: "false"
      when: fail | bool
"""

SLOW = """
- hosts: all
  gather_facts: false
  tasks:
    - name: wait a long time
      ansible.builtin.command: sleep 53.25
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "marker.yml").write_text(PLAYBOOK)
    (tmp_path / "playbooks" / "slow.yml").write_text(SLOW)
    (tmp_path / "hosts.ini").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return tmp_path


def settings(project: Path) -> AnsibleSettings:
    return AnsibleSettings(project_dir=str(project), inventory="hosts.ini")


def ctx(args: dict[str, object], *, dry_run: bool = False) -> RunContext:
    return RunContext(
        run_id=1, command="patch-hosts", args=args, user="alice", channel="#ops", timeout=120, dry_run=dry_run
    )


async def run(runner, context: RunContext) -> list[OutputChunk]:  # type: ignore[no-untyped-def]
    return [c async for c in runner.execute(context)]


def marker_runner(project: Path):  # type: ignore[no-untyped-def]
    return build(
        {
            "playbook": "playbooks/marker.yml",
            "limit": "{limit}",
            "extravars": {"out_dir": str(project), "message": "{message}", "fail": "{fail}"},
        },
        settings(project),
    )


async def test_playbook_runs_with_extravars_and_streams_tasks(project: Path) -> None:
    chunks = await run(marker_runner(project), ctx({"limit": "localhost", "message": "hello", "fail": False}))
    assert chunks[-1].exit_code == 0
    assert "TASK [write the marker]" in [c.text for c in chunks if c.stream == "progress"]
    assert "ok=1 changed=1 failed=0" in chunks[-1].result
    assert (project / "marker.txt").read_text() == "hello"


async def test_failed_task_fails_the_run_and_names_the_task(project: Path) -> None:
    chunks = await run(marker_runner(project), ctx({"limit": "localhost", "message": "x", "fail": True}))
    assert chunks[-1].exit_code == 2
    assert chunks[-1].result.startswith("task 'fail when asked' failed on localhost")


async def test_jinja_in_an_argument_is_literal_text(project: Path) -> None:
    evil = "{{ lookup('pipe', 'touch /tmp/opsroom-ansible-pwned; id') }}"
    chunks = await run(marker_runner(project), ctx({"limit": "localhost", "message": evil, "fail": False}))
    assert chunks[-1].exit_code == 0
    assert (project / "marker.txt").read_text() == evil
    assert not Path("/tmp/opsroom-ansible-pwned").exists()


async def test_dry_run_uses_check_mode_and_changes_nothing(project: Path) -> None:
    chunks = await run(marker_runner(project), ctx({"limit": "localhost", "message": "x", "fail": False}, dry_run=True))
    assert chunks[0].text.endswith("in check mode")
    assert chunks[-1].exit_code == 0
    assert "changed=1" in chunks[-1].result  # it reports what it would change…
    assert not (project / "marker.txt").exists()  # …without changing it


async def test_a_limit_that_is_not_a_host_pattern_is_refused(project: Path) -> None:
    with pytest.raises(Exception, match="not an Ansible host pattern"):
        await run(marker_runner(project), ctx({"limit": "--become-user=root", "message": "x", "fail": False}))


async def test_cancel_stops_ansible_playbook(project: Path) -> None:
    runner = build({"playbook": "playbooks/slow.yml"}, settings(project))
    started = asyncio.Event()
    seen: list[OutputChunk] = []

    async def consume() -> None:
        async for chunk in runner.execute(ctx({})):
            seen.append(chunk)
            if chunk.text == "TASK [wait a long time]":
                started.set()
        started.set()  # finished without reaching the task: the assert below shows why

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 60)
    assert not task.done(), seen
    for _ in range(50):
        if _sleeps():
            break
        await asyncio.sleep(0.1)
    assert _sleeps() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not _sleeps():
            break
        await asyncio.sleep(0.1)
    assert _sleeps() == 0


def _sleeps() -> int:
    out = subprocess.run(["pgrep", "-f", "sleep 53.25"], capture_output=True, text=True).stdout
    return len(out.split())


def test_options_are_validated(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with pytest.raises(ConfigError, match="'playbook' is required"):
        build({}, s)
    with pytest.raises(ConfigError, match="inside integrations.ansible.project_dir"):
        build({"playbook": "../../etc/x.yml"}, s)
    with pytest.raises(ConfigError, match="not a valid variable name"):
        build({"playbook": "p.yml", "extravars": {"bad-name": "x"}}, s)
    with pytest.raises(ConfigError, match="unknown option 'extra_vars'"):
        build({"playbook": "p.yml", "extra_vars": {}}, s)
