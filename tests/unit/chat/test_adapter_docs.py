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
    "TEAMS_APP_PASSWORD": "t",
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


def test_slack_multi_workspace_block_validates() -> None:
    [block] = [b for b in yaml_blocks("slack.md") if "client_id" in b]
    config = validate(interpolate(yaml.safe_load(block), ENV | {"SLACK_CLIENT_SECRET": "cs"}), "slack.md")
    assert config.chat.slack is not None and config.chat.slack.client_id and not config.chat.slack.bot_token
    assert config.chat.slack.workspaces == {"T0123ACME": "acme", "T0456BETA": "beta"}


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


def test_teams_config_block_validates_and_maps_people_by_entra_object_id() -> None:
    [block] = [b for b in yaml_blocks("teams.md") if b.lstrip().startswith("server:")]
    config = validate(interpolate(yaml.safe_load(block), ENV), "teams.md")
    assert config.chat.teams is not None and config.chat.teams.app_password == ENV["TEAMS_APP_PASSWORD"]
    assert config.users["alice"].identities["teams"] == "0b6b1f7c-1111-4c3e-9a0e-3f2d6d9b1a01"


def test_teams_manifest_names_the_bot_and_the_consent_is_the_channel_message_permission() -> None:
    import json

    blocks = re.findall(r"```json\n(.*?)```", (DOCS / "teams.md").read_text(), re.S)
    manifest = json.loads(blocks[0])
    assert manifest["bots"][0]["botId"] == manifest["id"]
    assert {"team", "personal"} <= set(manifest["bots"][0]["scopes"])
    consent = json.loads("{" + blocks[1].strip() + "}")
    assert consent["authorization"]["permissions"]["resourceSpecific"][0]["name"] == "ChannelMessage.Read.Group"
