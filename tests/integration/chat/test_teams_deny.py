"""Deny with a reason on Teams: the card's Deny shows a required text box (Action.ShowCard with
Input.Text isRequired) and its Action.Execute (or the Action.Submit fallback) carries the
reason; the guardrails deny with it (audited, shown on a card). An empty reason, a
non-approver, a forged or replayed click change nothing. The SDK's TestAdapter, the real engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from microsoft_agents.activity import Activity
from tests.integration.chat.test_teams_engine import Live, button, live_teams, person
from tests.integration.chat.test_teams_http import BOT, live_http
from tests.support.teams_people import AAD, CONVERSATION

from opsroom.chat.teams_render import ACTION_VERB
from opsroom.core import RunState


def deny_form(card: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the text box, the Deny button inside the card that Deny shows)."""
    deny = button(card, "Deny")
    assert deny["type"] == "Action.ShowCard"
    [box] = deny["card"]["body"]
    [execute] = deny["card"]["actions"]
    return box, execute


async def invoke(live: Live, who: str, data: dict[str, Any], card_id: str) -> tuple[Activity, Activity]:
    """(the invoke sent, its response)."""
    before = len(live.sdk.activity_queue)
    sent = Activity(
        type="invoke",
        name="adaptiveCard/action",
        from_property=person(who),
        reply_to_id=card_id,
        value={"action": {"type": "Action.Execute", "verb": ACTION_VERB, "data": data}, "trigger": "manual"},
    )
    await live.sdk.process_activity(live.sdk.claims_identity, sent, live.teams.app.on_turn)
    return sent, next(a for a in live.sdk.activity_queue[before:] if a.type == "invokeResponse")


def audited(live: Live) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.summary) for e in live.system.audit.for_run(live.runs()[0].id)]


async def test_deny_asks_for_the_reason_in_the_card_and_denies_with_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy payments production")
        request, card = await live.card_saying("needs approval")
        box, execute = deny_form(card)
        assert box["type"] == "Input.Text" and box["isRequired"] is True and box["id"] == "reason"
        assert execute["type"] == "Action.Execute" and execute["fallback"]["type"] == "Action.Submit"

        # Teams merges the inputs into the action's data
        sent, answer = await invoke(live, "carol", {**execute["data"], "reason": " not during the sale "}, request.id)
        assert answer.value.body["statusCode"] == 200
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)
        [denied] = [a for a in audited(live) if a[0] == "approval.denied"]
        assert denied[1] == "carol" and "not during the sale" in denied[2]
        await live.card_saying("not during the sale")

        # another Deny once it is decided is refused: one outcome, one denial
        await invoke(live, "carol", {**execute["data"], "reason": "again"}, request.id)
        await asyncio.sleep(0.5)
        assert [a[0] for a in audited(live)].count("approval.denied") == 1
        assert live.runs()[0].state == RunState.DENIED


async def test_an_empty_reason_a_non_approver_and_a_forged_click_change_nothing(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_teams(tmp_path, db_url, monkeypatch) as live:
        await live.say("alice", "deploy payments production")
        request, card = await live.card_saying("needs approval")
        _, execute = deny_form(card)
        data = execute["data"]

        await invoke(live, "carol", {**data, "reason": "   "}, request.id)
        await live.card_saying("Say why you deny run #1")
        await invoke(live, "carol", data, request.id)  # a client that skipped the required box
        await invoke(live, "carol", {**data, "reason": ["not", "text"]}, request.id)
        await invoke(live, "bob", {**data, "reason": "I say no"}, request.id)
        await live.card_saying("you are not an approver for run #1")
        _, forged = await invoke(live, "carol", {**data, "sig": "0" * 64, "reason": "forged"}, request.id)
        assert forged.value.body["statusCode"] == 401
        await asyncio.sleep(0.5)
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL
        assert not [a for a in audited(live) if a[0] == "approval.denied"]

        # the Action.Submit fallback carries the reason the same way
        submit = Activity.model_validate(
            {
                "type": "message",
                "value": {**execute["fallback"]["data"], "reason": "wrong build"},
                "replyToId": request.id,
                "from": person("carol").model_dump(by_alias=True, exclude_none=True),
            }
        )
        await live.sdk.process_activity(live.sdk.claims_identity, submit, live.teams.app.on_turn)
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)
        assert any(a[0] == "approval.denied" and "wrong build" in a[2] for a in audited(live))


async def test_a_replayed_deny_over_http_counts_once(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same signed invoke (same activity id) delivered twice to /teams/messages: the second
    is the same delivery, dropped; nothing more is audited."""
    async with live_http(tmp_path, db_url, monkeypatch) as live:
        assert (await live.post(live.activity("deploy payments production"), live.token())).status_code == 202

        def request() -> tuple[str, dict[str, Any]] | None:
            for activity_id, posted in live.connector.posted.items():
                if "needs approval" in str(posted.activity):
                    return activity_id, posted.activity["attachments"][0]["content"]
            return None

        await live.until(lambda: request() is not None)
        found = request()
        assert found is not None
        card_id, card = found
        _, execute = deny_form(card)
        body = {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": "invoke-deny-1",
            "channelId": "msteams",
            "serviceUrl": live.service_url,
            "replyToId": card_id,
            "from": {"id": "29:carol", "name": "Carol", "aadObjectId": AAD["carol"]},
            "recipient": {"id": BOT, "name": "opsroom"},
            "conversation": {"id": CONVERSATION, "conversationType": "channel"},
            "value": {
                "action": {"type": "Action.Execute", "verb": ACTION_VERB, "data": {**execute["data"], "reason": "no"}},
                "trigger": "manual",
            },
        }
        first = await live.post(body, live.token())
        assert first.status_code == 200
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)
        rows = [(e.action, e.actor) for e in live.system.audit.for_run(live.runs()[0].id)]
        replay = await live.post({**body, "value": {**body["value"]}}, live.token())
        assert replay.status_code == 200
        await asyncio.sleep(0.5)
        assert [(e.action, e.actor) for e in live.system.audit.for_run(live.runs()[0].id)] == rows
