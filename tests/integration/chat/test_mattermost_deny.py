"""Deny with a reason on Mattermost: the Deny button opens an interactive dialog (the click's
trigger_id), its submission denies through the guardrails with the typed reason (audited,
shown in the channel). Forged, moved, replayed and empty submissions and a non-approver's
change nothing. The real engine and demo config against the fake Mattermost server, which
enforces the dialog contract (trigger ids single use and 3 s, IsValid limits, submission shape)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from tests.integration.chat.test_mattermost_engine import ALICE, MALLORY, Live, demo_with_mattermost_users, live_system

from opsroom.core import RunState

BOB = "bobid0000000000000000000000"[:26]
CAROL = "carolid00000000000000000000"[:26]
PEOPLE = {
    BOB: {"id": BOB, "username": "bob", "email": "bob@example.com"},
    CAROL: {"id": CAROL, "username": "carol", "email": "carol@example.com"},
}


def data() -> dict[str, Any]:
    found = demo_with_mattermost_users()
    found["users"]["bob"]["identities"]["mattermost"] = BOB
    found["users"]["carol"]["identities"]["mattermost"] = CAROL
    return found


async def approval_request(live: Live) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice asks for a production deploy; returns the request post and its Deny context."""
    resp = await live.command(ALICE, "/deploy", "payments production")
    assert resp.status_code == 200

    def request() -> dict[str, Any] | None:
        return next((p for p in live.fake.posts.values() if "needs approval" in p["message"]), None)

    await live.until(lambda: request() is not None)
    post = request()
    assert post is not None
    actions = post["props"]["attachments"][0]["actions"]
    deny = next(a for a in actions if a["name"] == "Deny")
    return post, deny["integration"]["context"]


async def open_form(live: Live, context: dict[str, Any], user: str, post: dict[str, Any]) -> dict[str, Any]:
    before = len(live.fake.dialogs)
    clicked = await live.http.post(
        live.url + "/mattermost/actions", json=live.fake.click(context, user_id=user, post_id=post["id"])
    )
    assert clicked.status_code == 200 and clicked.json() == {}, clicked.text
    assert len(live.fake.dialogs) == before + 1, "the click opened the reason form"
    dialog = live.fake.dialogs[-1]
    # the adapter was told its public URL without our test port: send it where the app listens
    return {**dialog, "url": live.url + urllib.parse.urlsplit(dialog["url"]).path}


def denials(live: Live) -> list[tuple[str, str, str]]:
    run = live.runs()[0]
    return [(e.action, e.actor, e.summary) for e in live.system.audit.for_run(run.id) if "den" in e.action]


async def test_deny_opens_a_dialog_and_its_reason_denies_the_run(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch, data(), PEOPLE) as live:
        post, context = await approval_request(live)
        dialog = await open_form(live, context, CAROL, post)
        [element] = dialog["dialog"]["elements"]
        assert element["type"] == "textarea" and element["name"] == "reason" and element["optional"] is False
        assert dialog["dialog"]["title"] == "Deny" and "`/ops deny 1 <reason>`" in dialog["dialog"]["introduction_text"]

        sent = await live.fake.submit_dialog(dialog, {"reason": "not during the sale"}, http=live.http)
        assert sent is not None and sent.status_code == 200 and sent.json() == {}
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)
        audited = [e for e in live.system.audit.for_run(live.runs()[0].id) if e.action == "approval.denied"]
        assert [e.actor for e in audited] == ["carol"] and "not during the sale" in audited[0].summary
        await live.until(lambda: "denied by carol: not during the sale" in live.fake.posts[post["id"]]["message"])

        # the same submission again (a replay) is refused and changes nothing
        again = await live.fake.submit_dialog(dialog, {"reason": "something else"}, http=live.http)
        assert again is not None and again.status_code == 409
        assert len([e for e in live.system.audit.for_run(live.runs()[0].id) if e.action == "approval.denied"]) == 1


async def test_forged_moved_empty_and_cancelled_submissions_change_nothing(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch, data(), PEOPLE) as live:
        post, context = await approval_request(live)
        dialog = await open_form(live, context, CAROL, post)
        state = dialog["dialog"]["state"]
        raw, _, sig = state.partition(".")

        async def submit(**changes: Any) -> Any:
            body = {
                "type": "dialog_submission",
                "callback_id": dialog["dialog"]["callback_id"],
                "state": state,
                "user_id": CAROL,
                "channel_id": dialog["channel_id"],
                "team_id": "t",
                "submission": {"reason": "forged"},
                "cancelled": False,
                **changes,
            }
            return await live.http.post(dialog["url"], json=body)

        assert (await submit(state=raw + "." + "0" * 64)).status_code == 401  # forged seal
        assert (await submit(state=raw[:-4] + "AAAA." + sig)).status_code == 401  # altered state
        assert (await submit(user_id=BOB)).status_code == 401  # someone else sends carol's form
        assert (await submit(channel_id="otherchannel00000000000000")).status_code == 401  # moved
        assert (await submit(type="something")).status_code == 401
        assert (await submit(state="é." + "x" * 64)).status_code == 401  # no 500 on odd bytes
        empty = await live.fake.submit_dialog(dialog, {"reason": "   "}, http=live.http)
        assert empty is not None and empty.status_code == 200 and "reason" in empty.json()["errors"]
        # Cancel: the server sends nothing (no notify_on_cancel); a cancel sent anyway changes nothing
        assert await live.fake.submit_dialog(dialog, cancelled=True, http=live.http) is None
        cancelled = await submit(cancelled=True, submission={})
        assert cancelled.status_code == 200 and cancelled.json() == {}
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL
        assert denials(live) == []
        # and the form still works afterwards for its own user
        done = await live.fake.submit_dialog(dialog, {"reason": "wrong build"}, http=live.http)
        assert done is not None and done.status_code == 200
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)


async def test_a_non_approvers_reason_is_refused_in_the_form(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch, data(), PEOPLE) as live:
        post, context = await approval_request(live)
        for who in (BOB, MALLORY, ALICE):  # not an approver, a stranger, the requester
            dialog = await open_form(live, context, who, post)
            sent = await live.fake.submit_dialog(dialog, {"reason": "I say no"}, http=live.http)
            assert sent is not None and sent.status_code == 200
            assert sent.json().get("error"), f"the refusal shows in the form of {who}"
            print(f"{who}: {sent.json()['error']}")
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL
        assert not [e for e in live.system.audit.for_run(live.runs()[0].id) if e.action == "approval.denied"]


async def test_the_fake_holds_trigger_ids_to_one_use_and_three_seconds(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_system(tmp_path, db_url, monkeypatch, data(), PEOPLE) as live:
        post, context = await approval_request(live)
        click = live.fake.click(context, user_id=CAROL, post_id=post["id"])
        first = await live.http.post(live.url + "/mattermost/actions", json=click)
        assert first.json() == {}
        reused = await live.http.post(live.url + "/mattermost/actions", json=click)
        assert "/ops deny 1 <reason>" in reused.json()["ephemeral_text"], (
            "a used trigger opens nothing; the typed way is named"
        )
        late = live.fake.click(context, user_id=CAROL, post_id=post["id"])
        live.fake.triggers[late["trigger_id"]]["at"] -= 5_000
        expired = await live.http.post(live.url + "/mattermost/actions", json=late)
        assert "did not open" in expired.json()["ephemeral_text"]
        assert len(live.fake.dialogs) == 1
        forged = await live.http.post(
            live.url + "/mattermost/actions",
            json=live.fake.click({**context, "asks": "anything?"}, user_id=CAROL, post_id=post["id"]),
        )
        assert forged.status_code == 401, "what the form asks is signed with the button"
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL
