"""Teams cards, and the Teams settings that keep the endpoint safe by default."""

from __future__ import annotations

import json

import pytest
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import AgentAuthConfiguration
from pydantic import ValidationError

from opsroom.chat.teams import http_adapter
from opsroom.chat.teams_render import CARD_BUDGET, activity_body
from opsroom.config.chat import TeamsConfig
from opsroom.core import Actions, Button, Code, Message, Section


def signed(action_id: str) -> dict[str, str]:
    return {"opsroom": action_id, "sig": "s-" + action_id}


def test_buttons_are_universal_actions_with_a_submit_fallback_carrying_only_signed_data() -> None:
    message = Message("x", (Section("run #3"), Actions((Button("Cancel", "tok", "danger", "/cancel 3"),))))
    [attachment] = activity_body(message, [], signed)["attachments"]
    card = attachment["content"]
    assert card["version"] == "1.5"
    [action] = card["actions"]
    assert action == {
        "type": "Action.Execute",
        "title": "Cancel",
        "verb": "opsroom.action",
        "style": "destructive",
        "data": {"opsroom": "tok", "sig": "s-tok"},
        "fallback": {
            "type": "Action.Submit",
            "title": "Cancel",
            "data": {"verb": "opsroom.action", "opsroom": "tok", "sig": "s-tok"},
        },
    }


def test_a_huge_log_is_cut_from_the_top_so_the_card_fits_what_teams_accepts() -> None:
    log = "\n".join(f"line {i} " + "x" * 80 for i in range(2000))
    body = activity_body(Message("x", (Code(log),)), [], signed)
    assert len(json.dumps(body["attachments"][0]["content"], ensure_ascii=False).encode()) <= CARD_BUDGET
    assert "line 1999" in json.dumps(body)


def test_command_output_cannot_mention_anyone() -> None:
    body = activity_body(Message.plain("<at>everyone</at> hi"), [], signed)
    card = body["attachments"][0]["content"]
    assert "<at>" not in json.dumps(card) and "entities" not in card["msteams"]


def test_an_empty_app_id_is_refused_unless_local_development_is_switched_on() -> None:
    with pytest.raises(ValidationError, match="app_id is empty"):
        TeamsConfig.model_validate({})
    assert TeamsConfig.model_validate({"local_development_without_auth": True}).app_id == ""


def test_by_default_only_microsofts_https_service_urls_are_accepted() -> None:
    config = TeamsConfig(app_id="a", app_password="p")  # noqa: S106
    auth = AgentAuthConfiguration(client_id="a", client_secret="p")  # noqa: S106
    adapter = http_adapter(config, MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": auth}))
    validator = adapter._host_validator
    assert validator.is_allowed("https://smba.trafficmanager.net/amer/")
    assert not validator.is_allowed("http://smba.trafficmanager.net/amer/")
    assert not validator.is_allowed("https://attacker.example/")
    assert not validator.is_allowed("https://127.0.0.1/")
