"""A real OpenSSH server on a free 127.0.0.1 port, with throwaway host and user keys.

The test user is whoever runs the tests (root in CI); the server only accepts the throwaway
user key, from an authorized_keys file in the temp dir.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    port: int
    user: str
    host_public_key: str
    user_key_file: Path
    known_hosts: Path
    dir: Path


def _write_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    return key


def start_sshd(tmp: Path) -> Iterator[Sshd]:
    host_key = _write_key(tmp / "host_ed25519")
    user_key = _write_key(tmp / "user_ed25519")
    (tmp / "authorized_keys").write_bytes(user_key.export_public_key("openssh"))
    port = free_port()
    host_pub = host_key.export_public_key("openssh").decode().strip()
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_ed25519'}\n"
        f"PidFile {tmp / 'sshd.pid'}\nAuthorizedKeysFile {tmp / 'authorized_keys'}\n"
        "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir Debian's sshd expects
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "sshd.log", "wb"),
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start: " + (tmp / "sshd.log").read_text()) from None
                time.sleep(0.05)
        yield Sshd(port, getpass.getuser(), host_pub, tmp / "user_ed25519", tmp / "known_hosts", tmp)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    yield from start_sshd(tmp_path_factory.mktemp("sshd"))


@dataclass
class Supervisord:
    url: str
    dir: Path


SUPERVISOR_PROGRAMS = """
[program:worker]
command={python} -c "import time; time.sleep(3600)"
startsecs=0
stopwaitsecs=5

[program:broken]
command={python} -c "import sys; sys.stderr.write('boom: settings.ini missing\\n'); sys.exit(3)"
autostart=false
startsecs=1
startretries=0
"""


@pytest.fixture(scope="module")
def supervisord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisord]:
    """supervisord with an HTTP XML-RPC server on a free port, user ops / password s3cret."""
    tmp = tmp_path_factory.mktemp("supervisord")
    port = free_port()
    (tmp / "supervisord.conf").write_text(
        f"[supervisord]\nnodaemon=true\nlogfile={tmp}/supervisord.log\npidfile={tmp}/supervisord.pid\n"
        f"childlogdir={tmp}\n\n"
        f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=ops\npassword=s3cret\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        + SUPERVISOR_PROGRAMS.format(python=sys.executable)
    )
    binary = str(Path(sys.executable).parent / "supervisord")
    proc = subprocess.Popen(
        [binary, "-c", str(tmp / "supervisord.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/RPC2"
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("supervisord did not start") from None
                time.sleep(0.05)
        yield Supervisord(url, tmp)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
