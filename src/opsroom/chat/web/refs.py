"""``run #12``, ``ticket #3``, ``alert #7`` (and an alert card's ``group #7``), ``incident #2``
and ``INC-2`` in text become links to their console pages; a web chat thread URL
(``…/chat/ops?thread=5#m9``) becomes "in #ops".

Works on text that is already HTML-escaped: the patterns match only digits, letters and
``#``, so nothing from a user's text can become markup. ``base`` is the console's public URL
("" for links relative to this server — the web chat and the console are one server).
Other adapters use ``plain_links`` with the configured public URL (none configured: their
text stays as it is)."""

from __future__ import annotations

import re

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


def plain_links(text: str, base: str, link: str = "<{url}|{label}>") -> str:
    """For adapters that speak ``<url|label>`` (Slack, the Markdown subset): the same
    references as links to ``base`` (the configured public URL); unchanged without one."""
    if not base:
        return text
    base = base.rstrip("/")

    def ref(m: re.Match[str]) -> str:
        kind, number = ("incident", m.group(4)) if m.group(4) else (m.group(1), m.group(3))
        return link.format(url=f"{base}{page_of(kind, number)}", label=m.group(0))

    return _REF.sub(ref, text)
