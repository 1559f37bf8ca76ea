"""The web chat as people use it (issue 13), in Chromium: an approver is told (unread mark,
mention, Approvals badge) and approves from the badge; the run reports in the request's
thread; a reply stays in its thread; a denial asks for a reason; an error is shown to the
asker only; the palette sends an exact command on Enter and offers only allowed values; and
a phone (390×844) gets a drawer and no horizontal overflow. Screenshots go to docs/img via
$OPSROOM_E2E_OUTPUT."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.integration.web.conftest import ThreadedServer, threaded_system

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


def open_as(
    browser: Any, base: str, label: str, path: str = "/chat/ops", viewport: dict[str, int] | None = None
) -> Any:
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login?next={path}")
    page.get_by_role("button", name=f"Sign in as {label}").click()
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    page.wait_for_selector("#live-state.on")
    return page


def say(page: Any, text: str, box: str = "#text") -> None:
    page.fill(box, text)
    page.keyboard.press("Escape")  # close the palette if it opened
    page.locator(box).press("Enter")


def no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def test_people_get_told_threads_hold_replies_and_phones_fit(
    browser: Any, tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, app = threaded_system(tmp_path, f"sqlite:///{tmp_path / 'e2e.db'}", monkeypatch)
    with ThreadedServer(app) as base:
        alice = open_as(browser, base, "Alice (SRE)")
        carol = open_as(browser, base, "Carol (SRE lead)", "/chat/war-room")
        assert carol.locator("#approvals-count").is_hidden()

        # Alice asks for a production deploy: carol, elsewhere, sees #ops marked, with a
        # mention, and her Approvals badge counts it.
        say(alice, "/deploy payments production")
        carol.wait_for_selector("#sidebar a[data-channel=ops].unread.mentioned")
        carol.wait_for_selector("#approvals-count:has-text('1')")
        assert carol.locator("#sidebar a[data-channel=war-room].unread").count() == 0
        ask = alice.wait_for_selector("#messages > article.bot:has-text('needs approval')")
        assert "@carol" in ask.inner_text()

        # She approves from the badge.
        carol.click("#approvals-link")
        carol.wait_for_selector("#waiting:has-text('deploy payments production')")
        carol.click("#waiting button:has-text('Approve')")
        carol.wait_for_selector(".flash")
        assert carol.locator("#approvals-count").is_hidden()

        # One message for the request, settled in place; the run reports in its thread.
        settled = alice.wait_for_selector("#messages > article.bot:has-text('approved by carol')")
        assert alice.locator("#messages > article.bot:has-text('run #1')").count() == 1
        alice.wait_for_selector(f"#{settled.get_attribute('id')} .replies:not([hidden])").click()
        alice.wait_for_selector("#thread-messages article:has-text('succeeded')")
        assert alice.locator("#messages > article:has-text('succeeded')").count() == 0

        # A reply stays in its thread; the channel shows the count.
        say(alice, "shipped, watching the graphs", "#thread-text")
        alice.wait_for_selector("#thread-messages article:has-text('watching the graphs')")
        assert alice.locator("#messages > article:has-text('watching the graphs')").count() == 0
        alice.wait_for_selector(f"#{settled.get_attribute('id')} .replies:has-text('replies')")
        alice.screenshot(path=str(output_dir / "webchat-thread.png"))

        # Deny asks for a reason, and the requester reads it on the settled request.
        alice.click("#close-thread")
        say(alice, "/deploy payments production")
        carol.goto(f"{base}/chat/ops")
        request = carol.wait_for_selector("#messages > article.bot:has-text('run #2'):has-text('needs approval')")
        request.query_selector("button:has-text('Deny')").click()
        reason = carol.wait_for_selector(".reason-form input")
        carol.click(".reason-form button[type=submit]")  # empty: the browser keeps the form open
        assert carol.locator(".reason-form").count() == 1
        reason.fill("not during the sale")
        carol.click(".reason-form button[type=submit]")
        alice.wait_for_selector("#messages > article:has-text('denied by carol: not during the sale')")

        # Bob on a phone: a drawer for channels, nothing wider than the screen.
        bob = open_as(browser, base, "Bob (developer)", viewport=PHONE)
        assert bob.locator("#sidebar").bounding_box()["x"] < 0, "the channel list starts closed"
        no_horizontal_overflow(bob)
        bob.click("#drawer-toggle")
        bob.wait_for_selector("#sidebar.open")
        for _ in range(50):  # the drawer slides in (a short CSS transition)
            if bob.locator("#sidebar").bounding_box()["x"] >= 0:
                break
            bob.wait_for_timeout(50)
        assert bob.locator("#sidebar").bounding_box()["x"] >= 0, "the drawer opened"
        bob.screenshot(path=str(output_dir / "webchat-phone-drawer.png"))
        bob.click("#drawer-close")
        bob.wait_for_selector("#sidebar:not(.open)", state="attached")

        # The palette offers bob only the values he may use, and Enter sends an exact command.
        bob.fill("#text", "/deploy api-gateway ")
        bob.wait_for_selector(".palette-item[data-value=staging]")
        assert bob.locator(".palette-item[data-value=production]").count() == 0
        bob.fill("#text", "/whoami")
        bob.wait_for_selector(".palette-item[data-name=whoami]")
        bob.locator("#text").press("Enter")
        bob.wait_for_selector("article.bot:has-text('developer')")

        # His typo is answered to him only.
        say(bob, "/deplyo api-gateway staging")
        bob.wait_for_selector("article.ephemeral:has-text('did you mean')")
        alice.wait_for_selector("#messages > article:has-text('/deplyo api-gateway staging')")
        assert alice.locator("article:has-text('did you mean')").count() == 0
        no_horizontal_overflow(bob)
        bob.screenshot(path=str(output_dir / "webchat-phone.png"))

        # A thread on the phone covers the chat and still fits.
        bob.locator("#messages > article:has-text('approved by carol') .replies").click()
        bob.wait_for_selector("#thread-messages article:has-text('succeeded')")
        no_horizontal_overflow(bob)
        for path in ("/console/runs", "/console/approvals", "/console/audit"):
            bob.goto(f"{base}{path}")
            no_horizontal_overflow(bob)
    system.db.dispose()
    assert (output_dir / "webchat-phone.png").stat().st_size > 5_000
