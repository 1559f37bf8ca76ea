"""A real Synapse for the Matrix tests, once per test session (install cached, start ≈ 3–5 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.matrix_people import PASSWORD
from tests.support.synapse import Synapse, running_synapse


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    with running_synapse(tmp_path_factory.mktemp("synapse")) as server:
        for name in ("alice", "bob", "carol", "mallory", "opsroom"):
            server.register(name, PASSWORD)
        print(f"synapse ready in {server.started_in:.1f}s at {server.url}")
        yield server
