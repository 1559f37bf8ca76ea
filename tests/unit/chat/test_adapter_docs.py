"""The config blocks and the Slack manifest in docs/adapters/ are valid as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from opsroom.config.loader import interpolate, validate

DOCS = Path(__file__).resolve().parents[3] / "docs" / "adapters"
ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_APP_TOKEN": "xapp-1",
    "MATTERMOST_TOKEN": "t",
    "MATTERMOST_COMMAND_TOKEN": "c",
    "OPSROOM_SECRET_KEY": "k",
    "MATRIX_PASSWORD": "p",
}


def yaml_blocks(name: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (DOCS / name).read_text(), re.S)


@pytest.mark.parametrize("name", ["slack.md", "mattermost.md"])
def test_config_block_validates(name: str) -> None:
    [block] = [b for b in yaml_blocks(name) if b.lstrip().startswith("server:")]
    config = validate(interpolate(yaml.safe_load(block), ENV), name)
    platform = name.removesuffix(".md")
    section = getattr(config.chat, platform)
    assert (
        section is not None
        and section.bot_token == ENV["SLACK_BOT_TOKEN" if platform == "slack" else "MATTERMOST_TOKEN"]
    )


def test_slack_manifest_subscribes_to_what_the_adapter_handles() -> None:
    [manifest] = [yaml.safe_load(b) for b in yaml_blocks("slack.md") if "oauth_config" in b]
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["request_url"].endswith("/slack/interactions")
    assert {c["url"].rsplit("/", 1)[1] for c in manifest["features"]["slash_commands"]} == {"commands"}
    assert {"app_mention", "message.im"} <= set(settings["event_subscriptions"]["bot_events"])
    assert {"commands", "chat:write", "app_mentions:read", "users:read.email"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )


def test_matrix_config_block_validates_and_maps_people_by_matrix_id() -> None:
    [block] = [b for b in yaml_blocks("matrix.md") if b.lstrip().startswith("server:")]
    config = validate(interpolate(yaml.safe_load(block), ENV), "matrix.md")
    assert config.chat.matrix is not None and config.chat.matrix.password == ENV["MATRIX_PASSWORD"]
    assert config.chat.matrix.reactions["✅"] == "Approve"
    assert config.users["carol"].identities["matrix"] == "@carol:example.org"
