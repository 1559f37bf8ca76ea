"""`opsroom kb` as a help-desk lead uses it: ask, check the articles, measure search."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opsroom.config.loader import DEMO_CONFIG


def opsroom(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsroom.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_search_shows_the_article_section_and_where_it_is(tmp_path: Path) -> None:
    done = opsroom("kb", "search", "I forgot my password", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. Reset your password › I forgot my password")
    assert "password.md:" in done.stdout
    nothing = opsroom("kb", "search", "canteen menu for friday", cwd=tmp_path)
    assert nothing.returncode == 1 and "open a ticket" in nothing.stdout


def test_eval_prints_hit_rates_on_the_labelled_questions(tmp_path: Path) -> None:
    done = opsroom("kb", "eval", str(DEMO_CONFIG.parent / "kb-questions.yaml"), "--show", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "search: fts5  questions: 22 with an article, 2 without" in done.stdout
    assert "hit@1 " in done.stdout and " MRR 0." in done.stdout


def test_init_writes_a_kb_the_config_finds_and_check_names_a_broken_article(tmp_path: Path) -> None:
    assert opsroom("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "kb" / "vpn.md").is_file()
    assert "all valid" in opsroom("kb", "check", cwd=tmp_path).stdout
    (tmp_path / "kb" / "broken.md").write_text("---\nid: vpn-connect\ntitle: again\n---\n")
    done = opsroom("kb", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert "vpn.md:1: id 'vpn-connect' is already used by" in done.stderr and "broken.md" in done.stderr


def test_bad_questions_files_get_one_clear_sentence(tmp_path: Path) -> None:
    questions = tmp_path / "q.yaml"
    questions.write_text("questions:\n  - {q: hello, article: no-such-article}\n")
    done = opsroom("kb", "eval", str(questions), cwd=tmp_path)
    assert done.returncode == 2 and "no-such-article" in done.stderr
    questions.write_text("- just a list\n")
    assert opsroom("kb", "eval", str(questions), cwd=tmp_path).returncode == 2
