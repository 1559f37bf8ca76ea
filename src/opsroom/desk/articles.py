"""Knowledge-base articles: one Markdown file each (``kb/*.md``) with YAML front matter.

    ---
    id: vpn-connect
    title: Connect to the VPN
    tags: [vpn, remote]
    audience: everyone
    owner: it-desk
    ---
    Intro prose …

    ## On a laptop
    …

An article is split into sections at its ``##`` headings so an answer can quote the part that
fits, not the whole page. Parsing uses markdown-it (it comes with rich), so headings inside
code fences are not mistaken for sections.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from opsroom.config.content import CONTENT_ID, FRONT_MATTER, load_markdown
from opsroom.core import ConfigError


@dataclass(frozen=True)
class Section:
    """One part of an article: the text before the first ``##`` (heading = the title) or one
    ``##`` heading with what follows it."""

    heading: str
    anchor: str
    text: str
    line: int  # 1-based, in the file


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    path: Path
    sections: tuple[Section, ...]
    tags: tuple[str, ...] = ()
    audience: str = "everyone"
    owner: str = ""
    digest: str = field(default="", compare=False)  # sha256 of the file: caches and audit pin it

    @property
    def body(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_article(text: str, path: Path) -> Article:
    """One article from its file's text; a ConfigError names the file and line of a problem."""
    front = FRONT_MATTER.match(text)
    if not front:
        raise ConfigError(f"{path}:1: a KB article starts with front matter between '---' lines (id, title)")
    try:
        meta = yaml.safe_load(front.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:1: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}:1: front matter must be a mapping (id: …, title: …)")
    unknown = sorted(set(meta) - {"id", "title", "tags", "audience", "owner"})
    if unknown:
        raise ConfigError(f"{path}:1: unknown front matter key(s): {', '.join(map(str, unknown))}")
    article_id, title = str(meta.get("id", "")).strip(), str(meta.get("title", "")).strip()
    if not CONTENT_ID.match(article_id):
        raise ConfigError(f"{path}:1: 'id' must be lowercase letters, digits, '.', '_' or '-' (got {article_id!r})")
    if not title:
        raise ConfigError(f"{path}:1: 'title' is required")
    tags = meta.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{path}:1: 'tags' must be a list of words")
    offset = front.group(0).count("\n")
    body = text[front.end() :]
    return Article(
        id=article_id,
        title=title,
        path=path,
        sections=_sections(body, title, offset),
        tags=tuple(tags),
        audience=str(meta.get("audience", "everyone")),
        owner=str(meta.get("owner", "")),
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


def _sections(body: str, title: str, offset: int) -> tuple[Section, ...]:
    lines = body.splitlines()
    cuts: list[tuple[int, str]] = [(0, title)]
    tokens = MarkdownIt("commonmark").parse(body)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2" and token.map:
            cuts.append((token.map[0], tokens[i + 1].content.strip()))
    sections = []
    for n, (start, heading) in enumerate(cuts):
        end = cuts[n + 1][0] if n + 1 < len(cuts) else len(lines)
        chunk = lines[start + (1 if n else 0) : end]
        text = "\n".join(chunk).strip()
        if text or n:
            sections.append(
                Section(heading=heading, anchor=slug(heading) if n else "", text=text, line=offset + start + 1)
            )
    return tuple(sections)


def load_articles(folders: Iterable[Path]) -> list[Article]:
    """Every ``*.md`` under the folders, sorted by path; ids must be unique."""
    return load_markdown(folders, "kb", parse_article)
