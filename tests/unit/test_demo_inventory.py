"""The demo inventory: two servers started in one folder at once (replicas of a cluster, the
quick start run twice) both find no inventory and write the seed; both must start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsroom.demo import inventory


def test_a_second_process_seeding_the_same_folder_meanwhile_does_not_fail_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ".opsroom" / "demo-inventory.json"
    real_replace = Path.replace
    other_ran: list[Path] = []

    def replace(self: Path, dest: Any) -> Path:
        if not other_ran:  # just before the first move, the other process seeds and moves its own
            other_ran.append(target)
            with monkeypatch.context() as other:
                other.setattr(inventory.os, "getpid", lambda: 999_999)
                other.setattr(Path, "replace", real_replace)
                assert inventory.ensure(target) == target
        return real_replace(self, dest)

    monkeypatch.setattr(Path, "replace", replace)
    assert inventory.ensure(target) == target
    assert other_ran == [target]
    assert json.loads(target.read_text()) == inventory.seed()
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo-inventory.json"]  # no file left behind
