"""The container image, built from ./Containerfile by scripts/build-image.sh (buildah, no Docker
daemon) and run from its own root filesystem: the non-root user, the version and commit, the
demo's config check, and `opsroom run` answering /healthz — what `docker run opsroom` gives."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.release.conftest import ROOT, free_port, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
STORAGE = ["--storage-driver", "vfs"]


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"building the image needs {' and '.join(missing)} (scripts/install-test-deps.sh installs them)")
    built = subprocess.run(["bash", "scripts/build-image.sh"], cwd=ROOT, capture_output=True, text=True, timeout=1100)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-4000:]
    tag = built.stdout.strip().splitlines()[-1].split("image ")[-1].rstrip(")")
    assert tag.startswith("localhost/opsroom:"), built.stdout
    yield tag


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = subprocess.run(
        ["buildah", *STORAGE, "from", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    yield name
    subprocess.run(["buildah", *STORAGE, "rm", name], capture_output=True, check=False)


def run_in(container: str, *argv: str) -> str:
    done = subprocess.run(
        ["buildah", *STORAGE, "run", "--isolation", "chroot", container, "--", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_image_runs_as_a_non_root_user_and_says_its_commit(container: str) -> None:
    assert run_in(container, "id", "-u").strip() == "10001"
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    assert run_in(container, "opsroom", "--version").strip().endswith(f"(commit {commit})")
    assert "all valid" in run_in(container, "opsroom", "check")


def test_the_image_declares_its_port_volume_healthcheck_and_labels(image: str) -> None:
    info = json.loads(
        subprocess.run(
            ["buildah", *STORAGE, "inspect", "--type", "image", image], capture_output=True, text=True, check=True
        ).stdout
    )
    config = info["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/data"
    assert "/data" in config["Volumes"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["opsroom"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert config["Labels"]["org.opencontainers.image.title"] == "opsroom"


def test_opsroom_run_in_the_image_answers_healthz(container: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                "buildah",
                *STORAGE,
                "run",
                "--isolation",
                "chroot",
                container,
                "--",
                "opsroom",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", server, log, seconds=90)["status"] == "ok"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # the demo kept its state in the /data volume, as the non-root user
    assert "opsroom.db" in run_in(container, "ls", "/data")
