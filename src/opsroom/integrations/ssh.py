"""Runner ``ssh``: run an argv on a host from a configured inventory, over asyncssh.

Why it is built this way:
- The host must be a name in the inventory; chat text can pick one of the configured hosts,
  never an arbitrary address.
- SSH has no argv on the wire: the server hands one command string to the user's shell. So
  each argv item is quoted with ``shlex.quote`` and the quoted items are joined; a ``;`` or
  ``$(…)`` in an argument reaches the remote program as the same literal characters.
- The server's host key is checked against a known_hosts file. There is no option to turn the
  check off: an unknown or changed key is refused with what to do about it.
- Keys come from files named in config; passphrases from environment variables.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal as signal_module
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncssh

from opsroom.config.integrations import SshInventory, SshSettings
from opsroom.core import ConfigError, OutputChunk, RunContext
from opsroom.errors import IntegrationError
from opsroom.runs.runners.templating import Template, parse

_OPTIONS = frozenset({"host", "argv", "inventory", "user"})


class SshError(IntegrationError):
    """The command could not be started on the host (unreachable, refused key, unknown host)."""


@dataclass(frozen=True)
class Target:
    name: str
    address: str
    port: int
    user: str
    key: str


def remote_command(argv: list[str]) -> str:
    """The one string the remote shell receives: every item quoted, so it stays one word."""
    return " ".join(shlex.quote(item) for item in argv)


class SshRunner:
    def __init__(
        self,
        *,
        host: Template,
        argv: tuple[Template, ...],
        inventory_name: str,
        inventory: SshInventory,
        settings: SshSettings,
        user: str = "",
    ) -> None:
        self.host = host
        self.argv = argv
        self.inventory_name = inventory_name
        self.inventory = inventory
        self.settings = settings
        self.user = user

    def target(self, args: Mapping[str, Any]) -> Target:
        name = self.host.render(args)
        host = self.inventory.hosts.get(name)
        if host is None:
            known = ", ".join(sorted(self.inventory.hosts)) or "none"
            raise SshError(f"host {name!r} is not in inventory {self.inventory_name!r} (known: {known})")
        user = self.user or host.user or self.inventory.user
        if not user:
            raise SshError(f"no ssh user for {name}: set user on the host, the inventory or the command")
        return Target(name, host.address, host.port or self.inventory.port, user, host.key or self.inventory.key)

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        target = self.target(ctx.args)
        argv = [t.render(ctx.args) for t in self.argv]
        command = remote_command(argv)
        where = f"{target.user}@{target.name}"
        if ctx.dry_run:
            yield OutputChunk(f"dry run: would run on {where}: {command}", stream="progress")
            yield OutputChunk(exit_code=0, result=f"dry run on {target.name}")
            return
        yield OutputChunk(f"connecting to {where}", stream="progress")
        conn = await self._connect(target)
        proc: asyncssh.SSHClientProcess[str] | None = None
        pumps: list[asyncio.Task[None]] = []
        try:
            proc = await conn.create_process(command, encoding="utf-8", errors="replace")
            yield OutputChunk(f"running on {target.name}: {command}", stream="progress")
            queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
            pumps = [
                asyncio.create_task(_pump(proc.stdout, "stdout", queue)),
                asyncio.create_task(_pump(proc.stderr, "stderr", queue)),
            ]
            open_streams = len(pumps)
            while open_streams:
                chunk = await queue.get()
                if chunk is None:
                    open_streams -= 1
                else:
                    yield chunk
            completed = await proc.wait()
            code = _exit_code(completed.exit_status, completed.exit_signal)
            yield OutputChunk(exit_code=code, result=f"exit {code} on {target.name}")
        finally:
            # Reached on success, error and cancellation alike: ask the remote program to
            # stop, then close the channel and the connection.
            for task in pumps:
                task.cancel()
            if proc is not None and proc.exit_status is None:
                try:
                    proc.send_signal("TERM")
                except (asyncssh.Error, OSError):
                    pass
                proc.close()
            conn.close()

    async def _connect(self, target: Target) -> asyncssh.SSHClientConnection:
        known_hosts = os.path.expanduser(self.settings.known_hosts)
        if not os.path.isfile(known_hosts):
            raise SshError(f"known_hosts file {known_hosts} does not exist; opsroom never skips the host key check")
        options: dict[str, Any] = {
            "known_hosts": known_hosts,
            "username": target.user,
            "port": target.port,
            "connect_timeout": self.settings.connect_timeout,
            "config": None,  # ignore ~/.ssh/config: everything comes from opsroom.yaml
        }
        if target.key:
            options["client_keys"] = [load_key(self.settings, target.key)]
            options["agent_path"] = None
        try:
            return await asyncssh.connect(target.address, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise SshError(
                f"refused {target.name} ({target.address}:{target.port}): its host key is not trusted "
                f"by {known_hosts} ({exc.reason}). Check the key's fingerprint with the host's owner, "
                "then add it to that file."
            ) from None
        except asyncssh.PermissionDenied:
            raise SshError(f"{target.name} refused the login of user {target.user!r} with the configured key") from None
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise SshError(f"cannot connect to {target.name} ({target.address}:{target.port}): {reason}") from None


def load_key(settings: SshSettings, name: str) -> asyncssh.SSHKey:
    key = settings.keys[name]
    passphrase = os.environ.get(key.passphrase_env) if key.passphrase_env else None
    if key.passphrase_env and passphrase is None:
        raise SshError(f"ssh key {name!r}: environment variable {key.passphrase_env} is not set")
    try:
        return asyncssh.read_private_key(os.path.expanduser(key.file), passphrase)
    except (OSError, asyncssh.KeyImportError) as exc:
        # The message names the file, never key material or the passphrase.
        raise SshError(f"cannot load ssh key {name!r} from {key.file}: {type(exc).__name__}") from None


async def _pump(stream: asyncssh.SSHReader[str], name: str, queue: asyncio.Queue[OutputChunk | None]) -> None:
    try:
        async for line in stream:
            await queue.put(OutputChunk(line, stream=name))
    finally:
        await queue.put(None)


def _exit_code(status: int | None, signal: tuple[str, bool, str, str] | None) -> int:
    if status is not None and status >= 0:
        return status
    if signal is not None:
        # Killed by a signal: the shell convention 128 + signal number (TERM -> 143).
        try:
            return 128 + int(signal_module.Signals["SIG" + signal[0]])
        except KeyError:
            pass
    return 255


def build(options: Mapping[str, Any], settings: SshSettings) -> SshRunner:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError(f"ssh runner: unknown option {unknown[0]!r} (known: {', '.join(sorted(_OPTIONS))})")
    if "host" not in options:
        raise ConfigError("ssh runner: option 'host' is required, e.g. host: \"{host}\"")
    argv = options.get("argv")
    if not isinstance(argv, (list, tuple)) or not argv:
        raise ConfigError("ssh runner: option 'argv' must be a non-empty list, e.g. argv: [df, -h, /]")
    inventory_name = options.get("inventory")
    if inventory_name is None:
        if len(settings.inventories) != 1:
            raise ConfigError(
                "ssh runner: option 'inventory' is required (name one under integrations.ssh.inventories)"
            )
        inventory_name = next(iter(settings.inventories))
    if not isinstance(inventory_name, str) or inventory_name not in settings.inventories:
        known = ", ".join(sorted(settings.inventories)) or "none"
        raise ConfigError(f"ssh runner: option 'inventory': no inventory {inventory_name!r} (known: {known})")
    user = options.get("user", "")
    if not isinstance(user, str):
        raise ConfigError("ssh runner: option 'user' must be a string")
    return SshRunner(
        host=parse(options["host"], where="ssh runner option 'host'"),
        argv=tuple(parse(str(item), where=f"ssh runner option argv[{i}]") for i, item in enumerate(argv)),
        inventory_name=inventory_name,
        inventory=settings.inventories[inventory_name],
        settings=settings,
        user=user,
    )
