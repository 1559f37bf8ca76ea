"""The web chat and console in a real browser: sign in, run a command and watch its progress
message change in place, a second person approves a production deploy, the audit page shows
it, and an XSS attempt stays text. Screenshots of the chat and the dashboard are saved."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.integration.web.conftest import ThreadedServer, threaded_system

pytestmark = pytest.mark.slow


def sign_in(browser: Any, base: str, label: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login")
    assert "demo" in page.content()
    page.get_by_role("button", name=f"Sign in as {label}").click()
    page.wait_for_url(re.compile(r"/chat/ops$"))
    page.wait_for_selector("#live-state.on")
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.keyboard.press("Escape")  # close the palette if it opened
    page.click("#composer button[type=submit]")


def test_chat_console_and_approval_in_a_browser(
    browser: Any, tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, app = threaded_system(tmp_path, f"sqlite:///{tmp_path / 'e2e.db'}", monkeypatch)
    monkeypatch.setenv("OPSROOM_DEMO_SPEED", "0.15")  # slow enough to see the run progress
    with ThreadedServer(app) as base:
        alice = sign_in(browser, base, "Alice (SRE)")

        # The palette lists commands with their arguments.
        alice.fill("#text", "/dep")
        alice.wait_for_selector(".palette-item[data-name=deploy]")
        assert "/deploy <service> <env>" in alice.inner_text("#palette")
        alice.keyboard.press("Tab")
        assert alice.input_value("#text") == "/deploy "

        # A deploy: the progress message is edited in place until it says succeeded.
        say(alice, "/deploy api-gateway staging")
        progress = alice.wait_for_selector("article.bot:has-text('run #1')")
        message_id = progress.get_attribute("id")
        alice.wait_for_selector(f"#{message_id}:has-text('succeeded')")
        assert alice.locator("article.bot:has-text('run #1')").count() == 1, "edited in place, not reposted"
        assert "edited" in alice.inner_text(f"#{message_id}")

        # An XSS attempt is shown as text and never runs.
        say(alice, '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> *hi*')
        alice.wait_for_selector("article:has-text('<script>window.__xss=2</script>')")
        assert alice.evaluate("typeof window.__xss") == "undefined"
        assert alice.locator("article .body img").count() == 0

        # A production deploy needs a lead: carol approves from her own browser.
        carol = sign_in(browser, base, "Carol (SRE lead)")
        say(alice, "/deploy payments production")
        ask = carol.wait_for_selector("article.bot:has-text('needs approval')")
        ask.query_selector("button:has-text('Approve')").click()
        # The request becomes its outcome; the run's progress is in its thread.
        settled = alice.wait_for_selector("#messages > article.bot:has-text('approved by carol')")
        alice.wait_for_selector(f"#{settled.get_attribute('id')} .replies:not([hidden])")
        settled.query_selector(".replies").click()
        alice.wait_for_selector("#thread-messages article.bot:has-text('run #2'):has-text('succeeded')", timeout=15_000)
        alice.screenshot(path=str(output_dir / "webchat.png"))

        # The audit page shows who approved, and the chain is intact.
        alice.goto(f"{base}/console/audit?q=run:2")
        text = alice.inner_text("main")
        assert "approval.approved" in text and "carol" in text and "Hash chain verified" in text

        alice.goto(f"{base}/console/runs/2")
        assert "succeeded" in alice.inner_text("#run-state") and "carol" in alice.inner_text("main")

        alice.goto(f"{base}/console/dashboard")
        alice.wait_for_selector("body[data-charts-ready=true]")
        alice.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)
    system.db.dispose()
    assert (output_dir / "webchat.png").stat().st_size > 10_000
    assert (output_dir / "dashboard.png").stat().st_size > 10_000
