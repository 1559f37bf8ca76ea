"""The `chat:` section: required tokens per transport, no secrets in reprs, typos refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from opsroom.config.chat import ChatConfig, MattermostConfig, SlackConfig
from opsroom.config.models import OpsroomConfig


def test_defaults_keep_only_web_chat() -> None:
    chat = OpsroomConfig().chat
    assert chat.web.enabled and chat.slack is None and chat.mattermost is None


def test_slack_http_needs_a_signing_secret_and_socket_an_app_token() -> None:
    with pytest.raises(ValidationError, match="signing_secret"):
        SlackConfig(bot_token="xoxb-1")
    with pytest.raises(ValidationError, match="app_token"):
        SlackConfig(bot_token="xoxb-1", mode="socket")
    assert SlackConfig(bot_token="xoxb-1", mode="socket", app_token="xapp-1").mode == "socket"
    with pytest.raises(ValidationError, match="umbrella_command"):
        SlackConfig(bot_token="xoxb-1", signing_secret="s", umbrella_command="ops")


def test_slack_is_one_workspace_by_token_or_several_by_client_id_never_both() -> None:
    with pytest.raises(ValidationError, match="not both"):
        SlackConfig(bot_token="xoxb-1", client_id="1.2", client_secret="cs", signing_secret="s")
    with pytest.raises(ValidationError, match="client_secret"):
        SlackConfig(client_id="1.2", signing_secret="s")
    several = SlackConfig(client_id="1.2", client_secret="CLIENTSECRET", signing_secret="s")
    assert not several.bot_token and "chat:write" in several.scopes
    assert "CLIENTSECRET" not in repr(several)


def test_tokens_stay_out_of_reprs() -> None:
    config = ChatConfig(
        slack=SlackConfig(bot_token="xoxb-SECRET", signing_secret="SIGNSECRET"),
        mattermost=MattermostConfig(url="https://mm.example.com", bot_token="MMSECRET", command_tokens=["CMDSECRET"]),
    )
    shown = repr(config) + str(config)
    for secret in ("xoxb-SECRET", "SIGNSECRET", "MMSECRET", "CMDSECRET"):
        assert secret not in shown


def test_unknown_keys_and_bad_urls_are_errors() -> None:
    with pytest.raises(ValidationError):
        OpsroomConfig.model_validate({"chat": {"slack": {"bot_token": "x", "signing_secret": "y", "tokn": 1}}})
    with pytest.raises(ValidationError, match="http"):
        MattermostConfig(url="mm.example.com", bot_token="x")


def test_an_unset_token_variable_is_named_in_the_error() -> None:
    with pytest.raises(ValidationError, match="SLACK_BOT_TOKEN"):
        SlackConfig(bot_token="", signing_secret="s")
    with pytest.raises(ValidationError, match="MATTERMOST_TOKEN"):
        MattermostConfig(url="https://mm.example.com", bot_token="")
    assert SlackConfig(bot_token="", signing_secret="", enabled=False).enabled is False


def test_factories_build_only_what_is_configured() -> None:
    from pathlib import Path

    from opsroom.chat.mattermost import MattermostAdapter, build_mattermost_adapter
    from opsroom.chat.slack import SlackAdapter, build_slack_adapter
    from opsroom.config.loader import LoadedConfig

    empty = LoadedConfig(OpsroomConfig(), None, Path("."))
    assert build_slack_adapter(empty) is None and build_mattermost_adapter(empty, signing_key=b"k") is None
    both = LoadedConfig(
        OpsroomConfig.model_validate(
            {
                "server": {"public_url": "https://o.example.com"},
                "chat": {
                    "slack": {"bot_token": "xoxb-1", "signing_secret": "s"},
                    "mattermost": {"url": "https://mm.example.com", "bot_token": "t"},
                },
            }
        ),
        None,
        Path("."),
    )
    assert isinstance(build_slack_adapter(both), SlackAdapter)
    mm = build_mattermost_adapter(both, signing_key=b"k")
    assert isinstance(mm, MattermostAdapter) and mm.actions_url == "https://o.example.com/mattermost/actions"
    off = LoadedConfig(
        OpsroomConfig.model_validate({"chat": {"slack": {"enabled": False, "bot_token": "", "signing_secret": ""}}}),
        None,
        Path("."),
    )
    assert build_slack_adapter(off) is None


def test_mattermost_without_a_reachable_button_url_is_refused() -> None:
    """Relative button URLs make every click fail in the person's client: refuse the config."""
    mm = {"url": "https://mm.example.com", "bot_token": "t"}
    with pytest.raises(ValidationError, match="server.public_url"):
        OpsroomConfig.model_validate({"chat": {"mattermost": mm}})
    with pytest.raises(ValidationError, match="actions_url must start with http"):
        OpsroomConfig.model_validate({"chat": {"mattermost": {**mm, "actions_url": "/mattermost/actions"}}})
    ok = OpsroomConfig.model_validate({"server": {"public_url": "https://o.example.com"}, "chat": {"mattermost": mm}})
    assert ok.chat.mattermost is not None
    direct = OpsroomConfig.model_validate(
        {"chat": {"mattermost": {**mm, "actions_url": "https://o.example.com/mattermost/actions"}}}
    )
    assert direct.chat.mattermost is not None


def test_matrix_and_teams_plugins_build_their_adapters_only_when_configured(tmp_path: Any) -> None:
    from opsroom.chat.matrix import MatrixAdapter
    from opsroom.chat.teams import TeamsAdapter
    from opsroom.config.loader import LoadedConfig
    from opsroom.features import DEFAULT_PLUGINS

    def adapters(chat: dict[str, Any]) -> dict[str, Any]:
        loaded = LoadedConfig(
            OpsroomConfig.model_validate({"database": {"url": f"sqlite:///{tmp_path}/o.db"}, "chat": chat}),
            None,
            tmp_path,
        )
        built: dict[str, Any] = {}
        for plugin in DEFAULT_PLUGINS:
            declared = plugin.declare(loaded)
            for platform, factory in (declared.adapters if declared else {}).items():
                if platform in ("matrix", "teams") and (adapter := factory(loaded)) is not None:
                    built[platform] = adapter
        return built

    assert adapters({}) == {}
    built = adapters(
        {
            "matrix": {"homeserver": "https://matrix.example.org", "user_id": "@opsroom:example.org", "password": "p"},
            "teams": {"app_id": "6f1c2a9e-0000-4000-8000-00000000abcd", "app_password": "s"},
        }
    )
    assert isinstance(built["matrix"], MatrixAdapter) and built["matrix"].store == tmp_path / "matrix"
    assert isinstance(built["teams"], TeamsAdapter)
    assert [r.path for r in built["teams"].routes()] == ["/teams/messages"]
    built["matrix"].state.close()
    built["teams"].state.close()
