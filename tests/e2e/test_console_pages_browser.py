"""In Chromium: a thread reply "also sent to the channel" shows in the thread and in the
channel (marked, its link opens the thread); the alert card's "group #N" and a run's
"ticket #N" notice links to the console's ticket page, the alert list to the alert's page, which link back to the run.
Screenshots go to docs/img via $OPSROOM_E2E_OUTPUT."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.test_webchat_people import open_as, say
from tests.integration.web.conftest import ThreadedServer, threaded_system

from opsroom.alerts.demo import demo_payload

pytestmark = pytest.mark.slow


def test_also_send_to_channel_and_console_pages(
    browser: Any, tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, app = threaded_system(tmp_path, f"sqlite:///{tmp_path / 'e2e.db'}", monkeypatch)
    with ThreadedServer(app) as base:
        alice = open_as(browser, base, "Alice (SRE)")
        carol = open_as(browser, base, "Carol (SRE lead)")

        # Also send to channel: the reply is in the thread and, marked, in the channel.
        say(alice, "rolling back payments, shout if you object")
        parent = alice.wait_for_selector("#messages > article:has-text('shout if you object')")
        parent.hover()
        parent.query_selector("button.reply-link").click()
        alice.wait_for_selector("#thread-pane:not([hidden])")
        alice.fill("#thread-text", "no objection from the API side")
        alice.check("#also-channel")
        alice.locator("#thread-text").press("Enter")
        alice.wait_for_selector("#thread-messages article:has-text('no objection from the API side')")
        copy = carol.wait_for_selector("#messages > article:has-text('no objection from the API side')")
        assert "replied to a thread" in copy.inner_text()
        assert not alice.is_checked("#also-channel"), "the box is cleared after sending"
        alice.screenshot(path=str(output_dir / "webchat-also-send.png"))
        copy.query_selector(".also-sent a").click()
        carol.wait_for_selector("#thread-messages article:has-text('shout if you object')")

        # The production rollback, approved by carol, opens a ticket: chat links it.
        say(alice, "/rollback payments v4.12.3")
        ask = carol.wait_for_selector("#messages > article.bot:has-text('needs approval')")
        ask.query_selector("button:has-text('Approve')").click()
        # (The ticket notice lands in the request's thread.)
        settled = alice.wait_for_selector("#messages > article.bot:has-text('approved by carol')", timeout=30_000)
        alice.wait_for_selector(f"#{settled.get_attribute('id')} .replies:not([hidden])").click()
        link = alice.wait_for_selector("#thread-messages a.ref:has-text('ticket #1')", timeout=30_000)
        link.click()
        alice.wait_for_url(f"{base}/console/tickets/1")
        assert "built-in tracker" in alice.inner_text("#ticket-fields")
        alice.screenshot(path=str(output_dir / "console-ticket.png"), full_page=True)
        alice.click("#ticket-origin a")
        alice.wait_for_selector("#run-tickets a:has-text('ticket #1')")

        # An alert: the console lists it; its page shows labels and history.
        payload = demo_payload(dt.datetime.now(dt.UTC))
        answer = httpx.post(
            f"{base}/hooks/alertmanager/demo", json=payload, headers={"Authorization": "Bearer demo-alert-token"}
        )
        assert answer.status_code < 300, answer.text
        # (the notifier stores and posts it on its next tick: poll the list)
        deadline = time.monotonic() + 60
        while True:
            carol.goto(f"{base}/console/alerts")
            if carol.locator("#alerts a:has-text('alert #')").count() or time.monotonic() > deadline:
                break
            time.sleep(1)
        carol.click("#alerts a:has-text('alert #')")
        carol.wait_for_selector("#alert-history")
        assert "service=payments" in carol.inner_text("#alert-labels")
        carol.screenshot(path=str(output_dir / "console-alert.png"), full_page=True)
        carol.goto(f"{base}/console/tickets")
        carol.wait_for_selector("#tickets a:has-text('#1')")
    system.db.dispose()
