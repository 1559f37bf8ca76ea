"""Reload accepts a config exactly when a fresh start accepts it: for every runner type,
ticket provider, feature and chat adapter, a config that adds it (taken from the docs, as a
user would copy it) is tried both ways. Reload asks the plugins again, as a start does."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.system import demo_data, make_system

from opsroom.config.loader import LoadedConfig, validate
from opsroom.core import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs"


def doc_blocks(page: str) -> list[dict[str, Any]]:
    text = (DOCS / page).read_text()
    found = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    return [b for b in found if isinstance(b, dict)]


def merged(base: dict[str, Any], *blocks: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the docs' blocks added. The docs' command snippets leave out what every
    command has (a summary) and lists they show elsewhere: those are filled in here."""
    data = copy.deepcopy(base)
    data["lists"]["hosts"] = {"values": ["web1", "web2"]}
    for block in blocks:
        block = copy.deepcopy(block)
        if isinstance(block.get("commands"), dict):  # beside the demo's commands, not over them
            block["commands"] = {
                f"doc-{name}": {k: v for k, v in spec.items() if k not in ("aliases", "examples")}
                for name, spec in block["commands"].items()
            }
        for key, value in block.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **copy.deepcopy(value)}
            else:
                data[key] = copy.deepcopy(value)
    for name, command in data["commands"].items():
        if isinstance(command, dict):
            command.setdefault("summary", f"the {name} example")
    return data


def _page(page: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [b for b in doc_blocks(page) if set(b) <= set(keys) and b]


RUNNER_KEYS = ("commands", "integrations", "lists")
CASES: dict[str, list[dict[str, Any]]] = {
    **{
        f"runner {page}": _page(f"integrations/{page}.md", RUNNER_KEYS)
        for page in (
            "ssh",
            "supervisor",
            "ansible",
            "github-actions",
            "gitlab",
            "jenkins",
            "argocd",
            "kubernetes",
            "aws",
            "sql",
        )
    },
    "runner http": [
        {
            "commands": {
                "ping-api": {
                    "read_only": True,
                    "runner": {"type": "http", "method": "GET", "url": "http://127.0.0.1:9/health"},
                }
            }
        }
    ],
    **{
        f"tickets {page}": _page(f"integrations/{page}.md", ("tickets",))
        for page in ("jira", "servicenow", "github-issues")
    },
    "feature alerts": [b for b in doc_blocks("alerts.md") if set(b) == {"alerts"}],
    "feature oncall": [b for b in doc_blocks("oncall.md") if set(b) == {"oncall"}],
    "adapter web off": [{"chat": {"web": {"enabled": False}}}],
    "adapter slack": [{"chat": {"slack": {"enabled": True}}}],
    "adapter mattermost": [{"chat": {"mattermost": {"enabled": True, "url": "http://127.0.0.1:9"}}}],
    "runner unknown": [{"commands": {"nope": {"runner": {"type": "teleport", "argv": ["x"]}}}}],
}


def _loaded(tmp_path: Path, data: dict[str, Any]) -> LoadedConfig | None:
    for name, user in data.get("users", {}).items():
        user.setdefault("identities", {}).setdefault("test", name)
    try:
        return LoadedConfig(validate(data, "test-config"), None, tmp_path)
    except ConfigError:
        return None


async def _fresh_start_accepts(
    tmp_path: Path, db_url: str, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> bool:
    try:
        system, _ = make_system(tmp_path, db_url, copy.deepcopy(data), monkeypatch=monkeypatch)
    except ConfigError as exc:
        print(f"fresh start refused: {exc}")
        return False
    system.db.dispose()
    return True


@pytest.mark.parametrize("case", sorted(CASES))
async def test_reload_accepts_what_a_fresh_start_accepts(
    case: str, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = CASES[case]
    assert blocks, f"{case}: the docs lost their example"
    data = merged(demo_data(), *blocks)
    fresh = await _fresh_start_accepts(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}", data, monkeypatch)
    system, _ = make_system(tmp_path, sqlite_url, demo_data(), monkeypatch=monkeypatch)
    try:
        loaded = _loaded(tmp_path, copy.deepcopy(data))
        try:
            if loaded is None:
                raise ConfigError("invalid")
            system.reload(loaded, actor="test")
            reloaded = True
        except ConfigError:
            reloaded = False
    finally:
        system.db.dispose()
    assert reloaded == fresh, f"{case}: fresh start {'accepts' if fresh else 'refuses'}, reload differs"
    if case.startswith("runner ") and case != "runner unknown":
        assert fresh, f"{case}: the documented example should be accepted"
    if case == "runner unknown":
        assert not fresh


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'opsroom.db'}"
