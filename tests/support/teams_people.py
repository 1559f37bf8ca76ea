"""Who is who in the Teams tests: the bot's app id, the channel, and people's Entra object ids."""

from __future__ import annotations

from typing import Any

from tests.support.system import demo_data

APP_ID = "00000000-0000-0000-0000-0000000000ab"
CONVERSATION = "19:ops-channel@thread.tacv2"
AAD = {"alice": "aad-alice-0001", "bob": "aad-bob-0002", "carol": "aad-carol-0003"}


def demo_with_teams_users() -> dict[str, Any]:
    data = demo_data()
    for name, aad in AAD.items():
        data["users"][name]["identities"]["teams"] = aad
    return data
