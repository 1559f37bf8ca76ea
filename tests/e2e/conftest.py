"""Browser tests: Playwright (the PyPI package) driving Debian's Chromium at /usr/bin/chromium.
Never ``playwright install``: no browser is ever downloaded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/install-test-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright starts Chromium with a fresh temporary profile (user-data-dir) each launch.
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $OPSROOM_E2E_OUTPUT if set (docs/img is refreshed from there),
    else the test's own temporary folder."""
    path = Path(os.environ.get("OPSROOM_E2E_OUTPUT", tmp_path / "e2e-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
