"""Getting the demo ready: its inventory file next to the database."""

from __future__ import annotations

from pathlib import Path

from opsroom.demo import inventory


def prepare(base_dir: Path) -> Path:
    return inventory.ensure()
