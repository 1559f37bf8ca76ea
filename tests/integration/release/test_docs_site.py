"""The docs site builds in strict mode: a broken link or a page missing from the navigation
fails here, before a reader finds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.release.conftest import ROOT

pytest.importorskip("mkdocs", reason="mkdocs is part of the test extra")


def test_the_docs_site_builds_strictly_with_search_and_every_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    assert built.returncode == 0, built.stderr[-4000:]
    assert (site / "search" / "search_index.json").is_file()
    for page in sorted((ROOT / "docs").rglob("*.md")):
        rel = page.relative_to(ROOT / "docs").with_suffix("")
        html = site / ("index.html" if rel.name == "index" else rel / "index.html")
        assert html.is_file(), f"{page} was not built"
    assert "Helm" in (site / "install" / "index.html").read_text()
