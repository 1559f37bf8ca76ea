"""The Teams adapter's real handler (an AgentApplication) driven by the Agents SDK's own
TestAdapter, with the real engine and the bundled demo config: message → card → action →
updated card, approvals by Action.Execute, forged buttons, and a proactive message.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from microsoft_agents.activity import Activity, ChannelAccount, ConversationAccount, ConversationReference
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.testing import TestAdapter
from tests.support.system import make_system
from tests.support.teams_people import AAD, APP_ID, CONVERSATION, demo_with_teams_users

from opsroom.app import System
from opsroom.chat.teams import TeamsAdapter, TeamsError
from opsroom.chat.teams_render import ACTION_VERB, CARD_CONTENT_TYPE
from opsroom.config.chat import TeamsConfig
from opsroom.core import Message, Place, Principal, RunState, Section
from opsroom.runs import store as run_store


def person(name: str) -> ChannelAccount:
    return ChannelAccount(id=f"29:{name}", name=name.title(), aad_object_id=AAD.get(name, f"aad-{name}"))


@dataclass
class Live:
    system: System
    teams: TeamsAdapter
    sdk: TestAdapter

    async def say(self, who: str, text: str, *, mention: bool = True) -> None:
        """``who`` writes in the channel, @mentioning the bot unless ``mention`` is False (what
        Teams delivers only with resource-specific consent)."""
        bot = {"id": f"28:{APP_ID}", "name": "opsroom"}
        entities = [{"type": "mention", "text": "<at>opsroom</at>", "mentioned": bot}] if mention else []
        activity = Activity.model_validate(
            {
                "type": "message",
                "text": ("<at>opsroom</at> " if mention else "") + text,
                "from": person(who).model_dump(by_alias=True, exclude_none=True),
                "entities": entities,
                "channelData": {"channel": {"id": CONVERSATION, "name": "ops"}},
            }
        )
        await self.sdk.process_activity(self.sdk.claims_identity, activity, self.teams.app.on_turn)

    async def click(self, who: str, data: dict[str, Any], card_id: str) -> Activity:
        """An Action.Execute invoke from ``who`` on the card ``card_id``; returns the invoke response."""
        before = len(self.sdk.activity_queue)
        invoke = Activity(
            type="invoke",
            name="adaptiveCard/action",
            from_property=person(who),
            reply_to_id=card_id,
            value={"action": {"type": "Action.Execute", "verb": ACTION_VERB, "data": data}, "trigger": "manual"},
        )
        await self.sdk.process_activity(self.sdk.claims_identity, invoke, self.teams.app.on_turn)
        return next(a for a in self.sdk.activity_queue[before:] if a.type == "invokeResponse")

    def cards(self) -> list[tuple[Activity, dict[str, Any]]]:
        return [
            (a, att.content)
            for a in self.sdk.activity_queue
            if a.type == "message"
            for att in (a.attachments or [])
            if att.content_type == CARD_CONTENT_TYPE
        ]

    def card_text(self, card: dict[str, Any]) -> str:
        return "\n".join(str(b.get("text", "")) for b in card["body"])

    async def card_saying(self, text: str, timeout: float = 30.0) -> tuple[Activity, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = next(((a, c) for a, c in self.cards() if text in self.card_text(c)), None)
            if found:
                return found
            assert time.monotonic() < deadline, f"no card says {text!r}: {[self.card_text(c) for _, c in self.cards()]}"
            await asyncio.sleep(0.05)

    def runs(self) -> list[run_store.RunRow]:
        with self.system.db.read() as conn:
            return run_store.list_runs(conn, limit=100)

    async def until(self, check: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def live_teams(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    reference = ConversationReference(
        channel_id="msteams",
        service_url="https://smba.example.invalid/teams/",
        conversation=ConversationAccount(id=CONVERSATION, conversation_type="channel", name="ops"),
        agent=ChannelAccount(id=f"28:{APP_ID}", name="opsroom"),
        user=person("alice"),
    )
    sdk = TestAdapter(conversation=reference)
    config = TeamsConfig(app_id=APP_ID, app_password="x", pace_seconds=0.0)  # noqa: S106 - never used here
    auth = AgentAuthConfiguration(client_id=APP_ID, client_secret="x")  # noqa: S106 - never used here
    connections = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": auth})
    teams = TeamsAdapter(
        config, channel_adapter=sdk, connections=connections, store=tmp_path / "teams", signing_key=b"k", auth=auth
    )
    system, _ = make_system(
        tmp_path,
        db_url,
        demo_with_teams_users(),
        adapter=teams,  # type: ignore[arg-type]
        monkeypatch=monkeypatch,
    )
    await system.start()
    try:
        yield Live(system, teams, sdk)
    finally:
        await system.runs.drain()
        await system.stop()
        system.db.dispose()


def button(card: dict[str, Any], title: str) -> dict[str, Any]:
    return next(a for a in card.get("actions", []) if a["title"] == title)


async def test_a_mention_runs_a_deploy_and_its_card_is_refreshed_in_place(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy api-gateway staging")
        done, card = await live.card_saying("succeeded")
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        assert live.runs()[0].user == "alice"
        assert card["version"] == "1.5"
        progress = [a for a, c in live.cards() if "run #1" in live.card_text(c)]
        assert len({a.id for a in progress}) == 1, "one card per run, refreshed in place"


async def test_an_approval_by_action_execute_counts_only_from_an_approver(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy payments production")
        request, card = await live.card_saying("needs approval")
        approve = button(card, "Approve")
        assert approve["type"] == "Action.Execute" and approve["fallback"]["type"] == "Action.Submit"
        refused = await live.click("bob", approve["data"], str(request.id))
        assert refused.value.body["statusCode"] == 200  # accepted for checking; the engine refuses bob
        refusal, _ = await live.card_saying("you are not an approver for run #1")
        assert refusal.conversation.id == f"{CONVERSATION};messageid={request.id}", "answered in the reply chain"
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL
        await live.click("carol", approve["data"], str(request.id))
        await live.until(lambda: live.runs()[0].state == RunState.SUCCEEDED)
        actions = [(e.action, e.actor) for e in live.system.audit.for_run(live.runs()[0].id)]
        assert ("approval.refused", "bob") in actions and ("approval.approved", "carol") in actions


async def test_a_forged_or_moved_button_is_refused_and_changes_nothing(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy payments production")
        request, card = await live.card_saying("needs approval")
        data = button(card, "Approve")["data"]
        forged = await live.click("carol", {**data, "sig": "0" * 64}, str(request.id))
        assert forged.value.body["statusCode"] == 401
        unsigned = await live.click("carol", {"opsroom": data["opsroom"]}, str(request.id))
        assert unsigned.value.body["statusCode"] == 401
        await asyncio.sleep(0.5)
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL


async def test_a_proactive_alert_reaches_a_conversation_the_bot_was_added_to(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        added = Activity(
            type="conversationUpdate",
            from_property=person("alice"),
            members_added=[ChannelAccount(id=f"28:{APP_ID}", name="opsroom")],
        )
        await live.sdk.process_activity(live.sdk.claims_identity, added, live.teams.app.on_turn)
        carol = Principal("carol", display_name="Carol (SRE lead)", identities={"teams": AAD["carol"]})
        alert = Message("payments error rate 12%", (Section("🔥 payments error rate 12%"),), "failure", (carol,))
        await live.system.chat.send(Place("teams", CONVERSATION), alert)
        _, card = await live.card_saying("payments error rate 12%")
        assert card["msteams"]["entities"] == [
            {
                "type": "mention",
                "text": "<at>Carol (SRE lead)</at>",
                "mentioned": {"id": AAD["carol"], "name": "Carol (SRE lead)"},
            }
        ]
        assert "<at>Carol (SRE lead)</at>" in live.card_text(card)
        with pytest.raises(TeamsError, match="never been in conversation"):
            await live.system.chat.send(Place("teams", "19:elsewhere@thread.tacv2"), alert)


async def test_with_resource_specific_consent_only_mentions_and_bang_commands_are_read(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy api-gateway staging is what I will do after lunch", mention=False)
        await asyncio.sleep(0.5)
        assert live.runs() == [] and live.cards() == [], "chatter in the channel is not a command"
        await live.say("alice", "!deploy api-gateway staging", mention=False)
        await live.card_saying("succeeded")
        assert [r.user for r in live.runs()] == ["alice"]


async def test_the_action_submit_fallback_approves_like_action_execute(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy payments production")
        request, card = await live.card_saying("needs approval")
        fallback = button(card, "Approve")["fallback"]
        submit = Activity.model_validate(
            {
                "type": "message",
                "value": fallback["data"],
                "replyToId": request.id,
                "from": person("carol").model_dump(by_alias=True, exclude_none=True),
            }
        )
        await live.sdk.process_activity(live.sdk.claims_identity, submit, live.teams.app.on_turn)
        await live.until(lambda: live.runs()[0].state == RunState.SUCCEEDED)
        actions = [(e.action, e.actor) for e in live.system.audit.for_run(live.runs()[0].id)]
        assert ("approval.approved", "carol") in actions
