"""Runner ``ansible``: run a playbook with extra vars filled from typed arguments, through
ansible-runner, streaming task events as progress.

Why it is built this way:
- Extra vars are written to a YAML file with every string tagged ``!unsafe``. Ansible would
  otherwise render Jinja inside a value, so an argument such as ``{{ lookup('pipe', 'id') }}``
  would run a command on the controller. Tagged, it stays the literal text.
- ``ctx.dry_run`` (and ``check: true``) add ``--check --diff``: Ansible's own "what would
  change" mode.
- ansible-runner blocks, so it runs in a worker thread; its events come back to the event loop
  through a queue, and a cancel sets a flag its ``cancel_callback`` polls, which kills
  ansible-playbook's process group. Ansible's workers call ``setsid`` and so escape that kill,
  leaving the task's programs running; every process of the run therefore carries a marker
  in its environment, and on cancel we end the processes that carry it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsroom.config.integrations import AnsibleSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.errors import IntegrationError
from opsroom.runs.runners.templating import Template, parse

_OPTIONS = frozenset({"playbook", "extravars", "inventory", "limit", "tags", "check"})
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Host patterns for --limit: names, groups, globs, ranges, exclusions; never an option.
_LIMIT = re.compile(r"^[A-Za-z0-9_.:*!&,\[\]@-]+$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class AnsibleError(IntegrationError):
    """The playbook could not be started (ansible-runner missing, playbook not found…)."""


@dataclass
class _Outcome:
    failures: list[str] = field(default_factory=list)
    stats: str = ""


class AnsibleRunner:
    def __init__(
        self,
        *,
        settings: AnsibleSettings,
        playbook: str,
        extravars: Mapping[str, Template | int | float | bool],
        inventory: str,
        limit: Template | None,
        tags: tuple[str, ...],
        check: bool,
    ) -> None:
        self.settings = settings
        self.playbook = playbook
        self.extravars = extravars
        self.inventory = inventory
        self.limit = limit
        self.tags = tags
        self.check = check

    def _render_vars(self, args: Mapping[str, Any]) -> str:
        """The extravars file: strings as ``!unsafe`` JSON-quoted scalars (valid YAML)."""
        lines = []
        for name, value in self.extravars.items():
            if isinstance(value, Template):
                lines.append(f"{name}: !unsafe {json.dumps(value.render(args))}")
            else:
                lines.append(f"{name}: {json.dumps(value)}")
        return "\n".join(lines) + "\n"

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        try:
            import ansible_runner
        except ImportError:
            raise AnsibleError("the ansible runner needs ansible-runner: pip install 'opsroom[ansible]'") from None
        project = Path(self.settings.project_dir).expanduser().resolve()
        playbook = (project / self.playbook).resolve()
        if not playbook.is_file():
            raise AnsibleError(f"playbook {self.playbook} not found in {project}")
        limit = self.limit.render(ctx.args) if self.limit else None
        if limit is not None and (not _LIMIT.match(limit) or limit.startswith("-")):
            raise AnsibleError(f"{limit!r} is not an Ansible host pattern")
        check = self.check or ctx.dry_run
        cmdline = ["--check", "--diff"] if check else []
        if self.tags:
            cmdline += ["--tags", ",".join(self.tags)]

        data_dir = Path(tempfile.mkdtemp(prefix="opsroom-ansible-"))
        if self.extravars:  # ansible-playbook rejects an empty extra-vars file
            (data_dir / "env").mkdir()
            (data_dir / "env" / "extravars").write_text(self._render_vars(ctx.args))
        binary = _playbook_binary(self.settings)
        marker = uuid.uuid4().hex
        env = {
            _MARKER: marker,
            "PATH": f"{Path(binary).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            **self.settings.envvars,
        }
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        cancelled = threading.Event()

        def handler(event: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(events.put_nowait, event)
            return False  # ansible-runner need not keep the event on disk

        def run() -> Any:
            try:
                return ansible_runner.run(
                    private_data_dir=str(data_dir),
                    project_dir=str(project),
                    playbook=str(playbook),
                    inventory=self._inventory(project),
                    limit=limit,
                    cmdline=" ".join(cmdline) or None,
                    envvars=env,
                    quiet=True,
                    event_handler=handler,
                    cancel_callback=cancelled.is_set,
                    suppress_env_files=False,
                )
            finally:
                loop.call_soon_threadsafe(events.put_nowait, None)

        mode = " in check mode" if check else ""
        yield OutputChunk(f"ansible-playbook {self.playbook}{mode}", stream="progress")
        future = loop.run_in_executor(None, run)
        outcome = _Outcome()
        try:
            while (event := await events.get()) is not None:
                for chunk in _chunks(event, outcome):
                    yield chunk
            result = await future
        except BaseException:
            cancelled.set()  # ansible-runner polls this and kills ansible-playbook
            await asyncio.shield(asyncio.wait([future], timeout=30))
            _kill_marked(marker)
            raise
        finally:
            if not self.settings.keep_artifacts:
                await asyncio.shield(asyncio.wait([future], timeout=30))
                shutil.rmtree(data_dir, ignore_errors=True)
        rc = result.rc if isinstance(result.rc, int) else 1
        if result.status == "successful":
            yield OutputChunk(exit_code=0, result=outcome.stats or "playbook succeeded")
        else:
            reason = outcome.failures[0] if outcome.failures else f"ansible-playbook {result.status} (rc {rc})"
            yield OutputChunk(exit_code=rc or 1, result=reason)

    def _inventory(self, project: Path) -> str | None:
        name = self.inventory or self.settings.inventory
        if not name:
            return None
        path = (project / name).resolve()
        if not path.exists():
            raise AnsibleError(f"inventory {name} not found in {project}")
        return str(path)


_MARKER = "OPSROOM_ANSIBLE_RUN"


def _kill_marked(marker: str) -> None:
    """End every process whose environment carries this run's marker (Linux /proc)."""
    needle = f"{_MARKER}={marker}".encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


def _chunks(event: Mapping[str, Any], outcome: _Outcome) -> list[OutputChunk]:
    kind = event.get("event", "")
    data = event.get("event_data") or {}
    chunks: list[OutputChunk] = []
    if kind == "playbook_on_task_start":
        chunks.append(OutputChunk(f"TASK [{data.get('task', '')}]", stream="progress"))
    elif kind == "runner_on_failed" and not data.get("ignore_errors"):
        res = data.get("res") or {}
        msg = str(res.get("msg") or res.get("stderr") or "failed").strip().splitlines()[0][:300]
        outcome.failures.append(f"task '{data.get('task', '?')}' failed on {data.get('host', '?')}: {msg}")
    elif kind == "runner_on_unreachable":
        res = data.get("res") or {}
        outcome.failures.append(f"{data.get('host', '?')} unreachable: {str(res.get('msg', ''))[:300]}")
    elif kind == "playbook_on_stats":
        outcome.stats = _stats_line(data)
    text = _ANSI.sub("", str(event.get("stdout") or "")).replace("\r\n", "\n").strip("\n")
    if text and kind != "verbose":
        stream = "stderr" if kind in ("runner_on_failed", "runner_on_unreachable") else "stdout"
        chunks.append(OutputChunk(text + "\n", stream=stream))
    elif text:
        chunks.append(OutputChunk(text + "\n", stream="stderr"))
    return chunks


def _stats_line(data: Mapping[str, Any]) -> str:
    parts = []
    for key in ("ok", "changed", "failures", "dark", "skipped"):
        count = sum((data.get(key) or {}).values())
        label = {"failures": "failed", "dark": "unreachable"}.get(key, key)
        parts.append(f"{label}={count}")
    return " ".join(parts)


def _playbook_binary(settings: AnsibleSettings) -> str:
    if settings.playbook_binary:
        return settings.playbook_binary
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise AnsibleError(
            "ansible-playbook not found: pip install 'opsroom[ansible]' or set integrations.ansible.playbook_binary"
        )
    return found


def build(options: Mapping[str, Any], settings: AnsibleSettings) -> AnsibleRunner:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError(f"ansible runner: unknown option {unknown[0]!r} (known: {', '.join(sorted(_OPTIONS))})")
    playbook = options.get("playbook")
    if not isinstance(playbook, str) or not playbook:
        raise ConfigError("ansible runner: option 'playbook' is required, e.g. playbook: playbooks/patch.yml")
    if Path(playbook).is_absolute() or ".." in Path(playbook).parts:
        raise ConfigError("ansible runner: 'playbook' must be a path inside integrations.ansible.project_dir")
    raw_vars = options.get("extravars", {})
    if not isinstance(raw_vars, Mapping):
        raise ConfigError("ansible runner: 'extravars' must be a mapping of name: value")
    extravars: dict[str, Template | int | float | bool] = {}
    for name, value in raw_vars.items():
        if not isinstance(name, str) or not _VAR_NAME.match(name):
            raise ConfigError(f"ansible runner: extravars name {name!r} is not a valid variable name")
        if isinstance(value, str):
            extravars[name] = parse(value, where=f"ansible runner extravars.{name}")
        elif isinstance(value, (bool, int, float)):
            extravars[name] = value
        else:
            raise ConfigError(f"ansible runner: extravars.{name} must be a string, number or boolean")
    inventory = options.get("inventory", "")
    if not isinstance(inventory, str):
        raise ConfigError("ansible runner: 'inventory' must be a path")
    limit = options.get("limit")
    tags = options.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) and _VAR_NAME.match(t) for t in tags):
        raise ConfigError("ansible runner: 'tags' must be a list of tag names")
    check = options.get("check", False)
    if not isinstance(check, bool):
        raise ConfigError("ansible runner: 'check' must be true or false")
    return AnsibleRunner(
        settings=settings,
        playbook=playbook,
        extravars=extravars,
        inventory=inventory,
        limit=parse(limit, where="ansible runner option 'limit'") if limit is not None else None,
        tags=tuple(tags),
        check=check,
    )
