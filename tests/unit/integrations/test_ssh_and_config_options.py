"""Option and config validation for the ssh runner and the integrations/tickets sections:
mistakes are refused at load time with the name of the bad key."""

from __future__ import annotations

import shlex

import pytest
from pydantic import ValidationError

from opsroom.config.integrations import SshSettings
from opsroom.config.tickets import TicketsConfig
from opsroom.core import ConfigError
from opsroom.integrations.ssh import build, remote_command

SETTINGS = SshSettings.model_validate({"inventories": {"lab": {"user": "ops", "hosts": {"web1": "10.0.0.5"}}}})


def test_remote_command_keeps_each_argument_one_word() -> None:
    argv = ["grep", "-r", "a b; rm -rf / $(id) `id` 'q' \"d\"", "/var/log"]
    assert shlex.split(remote_command(argv)) == argv


def test_ssh_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="'argv' must be a non-empty list"):
        build({"host": "web1", "argv": "df -h"}, SETTINGS)
    with pytest.raises(ConfigError, match="unknown option 'command'"):
        build({"host": "web1", "argv": ["df"], "command": "df"}, SETTINGS)
    with pytest.raises(ConfigError, match="no inventory 'prod'"):
        build({"host": "web1", "argv": ["df"], "inventory": "prod"}, SETTINGS)
    runner = build({"host": "{host}", "argv": ["df"]}, SETTINGS)  # the only inventory is the default
    assert runner.target({"host": "web1"}).address == "10.0.0.5"


def test_inventory_keys_must_exist() -> None:
    with pytest.raises(ValidationError, match="uses key 'deploy', which is not under ssh.keys"):
        SshSettings.model_validate({"inventories": {"lab": {"key": "deploy", "hosts": {"web1": "10.0.0.5"}}}})


def test_tickets_config_names_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="no provider named 'desk'"):
        TicketsConfig.model_validate({"default": "desk"})
    with pytest.raises(ValidationError, match="Jira cloud needs email_env"):
        TicketsConfig.model_validate(
            {
                "providers": {
                    "j": {
                        "type": "jira",
                        "url": "https://x.atlassian.net",
                        "token_env": "T",
                        "project": "OPS",
                    }
                }
            }
        )
    with pytest.raises(ValidationError, match="not an environment variable name"):
        TicketsConfig.model_validate({"providers": {"g": {"type": "github", "repo": "a/b", "token_env": "$(id)"}}})
    ok = TicketsConfig.model_validate(
        {
            "default": "gh",
            "providers": {"gh": {"type": "github", "repo": "acme/ops", "token_env": "GH_TOKEN"}},
        }
    )
    assert ok.providers["gh"].url == "https://api.github.com"
