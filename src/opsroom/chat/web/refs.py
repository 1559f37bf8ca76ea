"""``run #12``, ``ticket #3``, ``alert #7`` (and an alert card's ``group #7``), ``incident #2``
and ``INC-2`` in text become links to their console pages; a web chat thread URL
(``…/chat/ops?thread=5#m9``) becomes "in #ops".

Works on text that is already HTML-escaped: the patterns match only digits, letters and
``#``, so nothing from a user's text can become markup. ``base`` is the console's public URL
("" for links relative to this server — the web chat and the console are one server).
Other adapters use ``plain_links`` with the configured public URL (none configured: their
text stays as it is)."""

from __future__ import annotations

import dataclasses
import re

from opsroom.core import Context, Message, Section

PAGES = {"run": "runs", "ticket": "tickets", "alert": "alerts", "group": "alerts", "incident": "incidents"}
_REF = re.compile(
    r"(?<![\w/#])(?i:(run|ticket|alert|group|incident))( #)([0-9]{1,12})(?![\w])|(?<![\w-])INC-([0-9]{1,12})\b"
)
_THREAD = re.compile(
    r"(?<![\w/\"'=])((?:https?://[A-Za-z0-9.:\[\]-]+)?/chat/([a-z0-9][a-z0-9_-]{0,79})\?thread=([0-9]{1,17})(?:#m[0-9]{1,17})?)"
)


def page_of(kind: str, number: str) -> str:
    return f"/console/{PAGES[kind.lower()]}/{number}"


def link_refs(escaped: str, base: str = "") -> str:
    """Escaped text with its references as ``<a>`` links (to put inside safe HTML)."""
    base = base.rstrip("/")

    def ref(m: re.Match[str]) -> str:
        if m.group(4):
            return f'<a class="ref" href="{base}{page_of("incident", m.group(4))}">{m.group(0)}</a>'
        return f'<a class="ref" href="{base}{page_of(m.group(1), m.group(3))}">{m.group(0)}</a>'

    def thread(m: re.Match[str]) -> str:
        return f'<a class="ref" href="{m.group(1)}">in #{m.group(2)}</a>'

    return _REF.sub(ref, _THREAD.sub(thread, escaped))


_KEEP = re.compile(r"<[^<>\n]+>|`[^`\n]*`")  # existing links and code spans stay as they are


def plain_links(text: str, base: str) -> str:
    """For the other adapters: the same references as ``<url|label>`` links (the Markdown
    subset every renderer turns into its platform's link) to ``base``, the configured public
    URL; unchanged without one. Existing links and code spans are left alone."""
    if not base:
        return text
    base = base.rstrip("/")

    def ref(m: re.Match[str]) -> str:
        kind, number = ("incident", m.group(4)) if m.group(4) else (m.group(1), m.group(3))
        return f"<{base}{page_of(kind, number)}|{m.group(0)}>"

    out: list[str] = []
    pos = 0
    for keep in _KEEP.finditer(text):
        out.append(_REF.sub(ref, text[pos : keep.start()]))
        out.append(keep.group(0))
        pos = keep.end()
    out.append(_REF.sub(ref, text[pos:]))
    return "".join(out)


def link_message(message: Message, base: str) -> Message:
    """``message`` with ``plain_links`` applied to its sections and context lines."""
    if not base:
        return message
    blocks = [
        dataclasses.replace(b, text=plain_links(b.text, base)) if isinstance(b, (Section, Context)) else b
        for b in message.blocks
    ]
    return dataclasses.replace(message, blocks=tuple(blocks))
