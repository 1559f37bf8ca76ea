"""The Deny button on Slack asks why in a dialog: the click opens a modal (views.open with the
click's trigger_id), its submission denies the run with that reason through the guardrails
(audited, shown in the channel). A blank reason keeps the dialog open; an expired trigger
falls back to the typed way. The real engine, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.slack import block_actions, view_submission
from tests.integration.chat.slack_harness import fake_slack, interaction, signed_headers
from tests.integration.chat.test_slack_engine import Live, live_system

from opsroom.core import RunState


async def submit(live: Live, payload: dict[str, Any]) -> Any:
    body = interaction(payload)
    return await live.http.post(
        live.url + "/slack/interactions",
        content=body,
        headers=signed_headers(body, content_type="application/x-www-form-urlencoded"),
    )


async def click_deny(live: Live, button: dict[str, Any], ts: str, trigger: str) -> None:
    payload = block_actions(
        button["value"],
        user="U0CAROL",
        message_ts=ts,
        trigger_id=trigger,
        action_id=button["action_id"],
        label="Deny",
        response_url=live.fake.response_url(trigger, "U0CAROL"),
    )
    assert (await submit(live, payload)).status_code == 200


async def test_deny_opens_a_dialog_and_its_reason_denies_the_run(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_slack() as fake, live_system(tmp_path, db_url, monkeypatch, fake) as live:
        await live.command("U0ALICE", "/deploy", "api-gateway production", "trig-prod")

        def deny_button() -> tuple[str, dict[str, Any]] | None:
            for (_, ts), m in fake.messages.items():
                for block in m.get("blocks") or []:
                    for el in block.get("elements", []) if block["type"] == "actions" else []:
                        if el["text"]["text"] == "Deny":
                            return ts, el
            return None

        await live.until(lambda: deny_button() is not None)
        ts, button = deny_button()  # type: ignore[misc]
        assert button["action_id"].startswith("opsroom_ask_")

        # Too late: Slack refuses the trigger (3 s, once); carol is told the typed way.
        fake.triggers["trig-old"] = time.monotonic() - 5
        await click_deny(live, button, ts, "trig-old")
        await live.until(lambda: any("Say why" in t for t in fake.seen_by("U0CAROL")))
        assert not fake.views

        await click_deny(live, button, ts, fake.trigger("trig-deny"))
        await live.until(lambda: bool(fake.views))
        [view] = fake.views
        assert view["title"]["text"] == "Deny" and "Why deny?" in view["blocks"][0]["label"]["text"]
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL

        blank = await submit(live, view_submission(view, "   ", user="U0CAROL"))
        assert blank.status_code == 200 and blank.json()["response_action"] == "errors"
        assert live.runs()[0].state == RunState.AWAITING_APPROVAL

        done = await submit(live, view_submission(view, "not during the sale", user="U0CAROL"))
        assert done.status_code == 200 and not done.content  # the dialog closes
        await live.until(lambda: live.runs()[0].state == RunState.DENIED)
        run = live.runs()[0]
        [denied] = [e for e in live.system.audit.for_run(run.id) if e.action == "approval.denied"]
        assert denied.actor == "carol" and "not during the sale" in denied.summary
        await live.until(lambda: any("not during the sale" in m["text"] for m in fake.messages.values()))

        # The same submission again (a retry) changes nothing.
        await submit(live, view_submission(view, "again", user="U0CAROL"))
        assert len([e for e in live.system.audit.for_run(run.id) if e.action == "approval.denied"]) == 1
