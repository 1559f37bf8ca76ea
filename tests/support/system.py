"""Build a real opsroom System (the bundled demo config, or a variant) for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.support.chat import RecordingAdapter

from opsroom.app import System, build_system
from opsroom.config.loader import DEMO_CONFIG, LoadedConfig, validate


def demo_data() -> dict[str, Any]:
    return yaml.safe_load(DEMO_CONFIG.read_text())  # type: ignore[no-any-return]


def demo_data_elsewhere() -> dict[str, Any]:
    """The demo config for a file written somewhere else: its content folders (KB articles,
    runbooks) point at the bundled ones, as `opsroom init` would have copied them."""
    data = demo_data()
    for section in ("kb", "runbooks"):
        data[section]["paths"] = [str(DEMO_CONFIG.parent / p) for p in data[section]["paths"]]
    return data


def make_system(
    tmp_path: Path,
    db_url: str,
    data: dict[str, Any] | None = None,
    adapter: RecordingAdapter | None = None,
    monkeypatch: Any = None,
    plugins: Any = None,
) -> tuple[System, RecordingAdapter]:
    """A System on ``db_url`` with a RecordingAdapter named ``test``. The demo inventory lives
    in tmp_path and the demo scripts run fast."""
    if monkeypatch is not None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("OPSROOM_DEMO_SPEED", "0.01")
        monkeypatch.setenv("OPSROOM_DEMO_INVENTORY", str(tmp_path / ".opsroom" / "demo-inventory.json"))
    data = data if data is not None else demo_data()
    for name, user in data.get("users", {}).items():  # on the test platform, ids are user names
        user.setdefault("identities", {}).setdefault((adapter.name if adapter else "test"), name)
    config = validate(data, "test-config")
    loaded = LoadedConfig(config, None, tmp_path)
    adapter = adapter or RecordingAdapter()
    system = build_system(loaded, adapters=[adapter], database_url=db_url, edit_interval=0.0, plugins=plugins)
    return system, adapter
