"""The web chat is on by default (the embedded default's chat platform) and can be switched off."""

from __future__ import annotations

from pathlib import Path

import yaml

from opsroom.app import build_adapters
from opsroom.chat.web import WebChatAdapter
from opsroom.config.loader import DEMO_CONFIG, LoadedConfig, validate


def loaded(extra: dict | None = None) -> LoadedConfig:  # type: ignore[type-arg]
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(extra or {})
    return LoadedConfig(validate(data, "test"), None, Path("."))


def test_the_web_chat_is_on_by_default_and_can_be_switched_off() -> None:
    assert any(isinstance(a, WebChatAdapter) for a in build_adapters(loaded()))
    off = build_adapters(loaded({"chat": {"web": {"enabled": False}}}))
    assert not any(isinstance(a, WebChatAdapter) for a in off)
