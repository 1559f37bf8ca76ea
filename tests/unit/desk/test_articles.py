"""KB articles as authors write them: front matter, sections at ## headings (not inside code
fences), and mistakes named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsroom.core import ConfigError
from opsroom.desk.articles import load_articles, parse_article

GOOD = """---
id: vpn-connect
title: Connect to the VPN
tags: [vpn, remote]
owner: it-desk
---
Intro line.

## On a laptop
Install the app.

```bash
## not a heading: a comment inside a code block
wg-quick up corp
```

## It does not connect
Download a new profile.
"""


def test_sections_split_at_level_two_headings_and_keep_their_lines() -> None:
    article = parse_article(GOOD, Path("kb/vpn.md"))
    assert article.id == "vpn-connect" and article.tags == ("vpn", "remote") and article.owner == "it-desk"
    assert [s.heading for s in article.sections] == ["Connect to the VPN", "On a laptop", "It does not connect"]
    assert [s.anchor for s in article.sections] == ["", "on-a-laptop", "it-does-not-connect"]
    laptop = article.sections[1]
    assert "## not a heading" in laptop.text and "wg-quick up corp" in laptop.text
    assert GOOD.splitlines()[laptop.line - 1] == "## On a laptop"
    assert article.sections[0].text == "Intro line."
    assert len(article.digest) == 64


@pytest.mark.parametrize(
    "text, says",
    [
        ("# no front matter\n", "starts with front matter"),
        ("---\ntitle: x\n---\nbody\n", "'id' must be"),
        ("---\nid: Bad Id!\ntitle: x\n---\n", "'id' must be"),
        ("---\nid: ok\n---\n", "'title' is required"),
        ("---\nid: ok\ntitle: t\ncolour: red\n---\n", "unknown front matter key(s): colour"),
        ("---\nid: ok\ntitle: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "must be a mapping"),
        ("---\nid: ok\ntitle: t\ntags: vpn\n---\n", "'tags' must be a list"),
    ],
)
def test_bad_articles_are_named_with_file_and_line(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_article(text, Path("kb/bad.md"))
    assert str(refused.value).startswith("kb/bad.md:1: ")
    assert says in str(refused.value)


def test_duplicate_ids_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD)
    (tmp_path / "b.md").write_text(GOOD)
    with pytest.raises(ConfigError, match="id 'vpn-connect' is already used by"):
        load_articles([tmp_path])
    (tmp_path / "b.md").write_bytes(b"---\nid: x\ntitle: \xff\xfe\n---\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_articles([tmp_path])
    with pytest.raises(ConfigError, match="does not exist"):
        load_articles([tmp_path / "missing"])


def test_the_demo_kb_loads() -> None:
    from opsroom.config.loader import DEMO_CONFIG

    articles = load_articles([DEMO_CONFIG.parent / "kb"])
    wanted = {"vpn-connect", "password-reset", "access-request", "oncall-howto", "deploy-howto"}
    assert wanted <= {a.id for a in articles}
