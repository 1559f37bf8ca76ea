"""A release as a stranger installs it: the wheel from scripts/release.sh, installed by pipx into
a fresh environment, says its version and commit and serves the demo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.integration.release.conftest import ROOT, free_port, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_wheel_and_sdist_install_with_pipx_and_serve_the_demo(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to stamp the commit")
    dist = tmp_path / "dist"
    subprocess.run(
        ["bash", "scripts/release.sh", str(dist)],
        cwd=ROOT,
        check=True,
        timeout=600,
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
    )
    (wheel,) = dist.glob("opsroom-*.whl")
    (sdist,) = dist.glob("opsroom-*.tar.gz")
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("opsroom/COMMIT").decode().strip() == commit
    assert "opsroom/demo/opsroom.yaml" in names  # the embedded default ships inside the wheel
    assert not (ROOT / "src" / "opsroom" / "COMMIT").exists()  # the stamp is not left behind
    assert sdist.stat().st_size > 0

    home = tmp_path / "pipx"
    env = dict(os.environ, PIPX_HOME=str(home), PIPX_BIN_DIR=str(home / "bin"), PIPX_MAN_DIR=str(home / "man"))
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(wheel)], env=env, check=True, capture_output=True, timeout=600
    )
    opsroom = home / "bin" / "opsroom"
    version = subprocess.run([str(opsroom), "--version"], capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(rf"opsroom \S+ \(commit {commit}\)\n", version), version

    workdir = tmp_path / "try"
    workdir.mkdir()
    port = free_port()
    log = workdir / "opsroom.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(opsroom), "run", "--port", str(port)], cwd=workdir, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", server, log)["status"] == "ok"
        assert (workdir / "opsroom.db").exists()  # the demo keeps its state where it was started
    finally:
        server.terminate()
        server.wait(timeout=30)
