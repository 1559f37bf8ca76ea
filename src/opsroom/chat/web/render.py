"""The Message model as HTML for the web chat.

Everything is escaped first and only then formatted, so nothing a user, a command's output
or an alert's text contains can become markup: ``<script>`` shows as the text ``<script>``.
The Markdown subset is the one every platform shows: ``*bold*``, ``_italic_``,
`` `code` ``, ``<https://url|label>`` links (http and https only), fenced code blocks, and
``@name`` mentions of known users.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

from opsroom.chat.web.refs import link_refs
from opsroom.core import Actions, Code, Context, Fields, Message, Section

_LINK = re.compile(r"<(https?://[^\s|<>]+)(?:\|([^<>\n]+))?>")
_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\n?(.*?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w])")
_MENTION = re.compile(r"(?<![\w@])@([a-zA-Z0-9][a-zA-Z0-9._-]{0,63})")


def _emphasis(escaped: str, is_user: Callable[[str], bool], refs: bool = True) -> str:
    """Bold, italic, mentions and links to ``run #N``… pages, on text that is already escaped
    (the patterns use no character that escaping produces, so they cannot build markup out of
    a user's text). ``refs`` is off inside a link's label (no link in a link)."""
    out = _BOLD.sub(r"<strong>\1</strong>", escaped)
    out = _ITALIC.sub(r"<em>\1</em>", out)
    out = _MENTION.sub(
        lambda m: f'<span class="mention">@{m.group(1)}</span>' if is_user(m.group(1)) else m.group(0), out
    )
    return link_refs(out) if refs else out


def _inline(text: str, is_user: Callable[[str], bool]) -> str:
    """One run of text without fences: links and code spans split out, the rest emphasized."""
    parts: list[str] = []
    pos = 0
    for m in _LINK.finditer(text):
        parts.append(_spans(text[pos : m.start()], is_user))
        url, label = m.group(1), m.group(2) or m.group(1)
        shown = _spans(label, is_user, refs=False)
        parts.append(f'<a href="{escape(url)}" rel="noopener noreferrer" target="_blank">{shown}</a>')
        pos = m.end()
    parts.append(_spans(text[pos:], is_user))
    return "".join(parts)


def _spans(text: str, is_user: Callable[[str], bool], refs: bool = True) -> str:
    parts: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        parts.append(_emphasis(str(escape(text[pos : m.start()])), is_user, refs))
        parts.append(f"<code>{escape(m.group(1))}</code>")
        pos = m.end()
    parts.append(_emphasis(str(escape(text[pos:])), is_user, refs))
    return "".join(parts).replace("\n", "<br>")


def markdown(text: str, is_user: Callable[[str], bool] = lambda _name: False) -> Markup:
    """The Markdown subset as safe HTML."""
    parts: list[str] = []
    pos = 0
    for m in _FENCE.finditer(text):
        parts.append(_inline(text[pos : m.start()], is_user))
        parts.append(f"<pre><code>{escape(m.group(1).rstrip(chr(10)))}</code></pre>")
        pos = m.end()
    parts.append(_inline(text[pos:], is_user))
    return Markup("".join(parts))  # noqa: S704 - every piece above was escaped first


def message_html(message: Message, *, message_id: int, is_user: Callable[[str], bool] = lambda _name: False) -> Markup:
    """A bot message's body: sections, fields, code, context and buttons."""
    out: list[str] = []
    if message.mentions:
        out.append(
            '<div class="mentions">'
            + " ".join(f'<span class="mention">@{escape(p.name)}</span>' for p in message.mentions)
            + "</div>"
        )
    for block in message.blocks or (Section(message.text),):
        if isinstance(block, Section):
            out.append(f'<div class="section">{markdown(block.text, is_user)}</div>')
        elif isinstance(block, Fields):
            rows = "".join(f"<dt>{escape(k)}</dt><dd>{markdown(v, is_user)}</dd>" for k, v in block.items)
            out.append(f'<dl class="fields">{rows}</dl>')
        elif isinstance(block, Code):
            out.append(f'<pre class="code"><code>{escape(block.text)}</code></pre>')
        elif isinstance(block, Context):
            out.append(f'<div class="context">{markdown(block.text, is_user)}</div>')
        elif isinstance(block, Actions):
            out.append('<div class="actions">' + "".join(_button(b, message_id) for b in block.buttons) + "</div>")
    return Markup("".join(out))  # noqa: S704 - built from escaped pieces only


def _button(button: object, message_id: int) -> str:
    from opsroom.core import Button

    assert isinstance(button, Button)
    label = escape(button.label)
    style = button.style if button.style in ("default", "primary", "danger") else "default"
    if button.url:
        if not button.url.startswith(("http://", "https://", "/")):
            return ""
        return (
            f'<a class="btn btn-{style}" href="{escape(button.url)}" rel="noopener noreferrer" '
            f'target="_blank">{label}</a>'
        )
    asks = f' data-asks="{escape(button.asks)}"' if button.asks else ""
    return (
        f'<button type="button" class="btn btn-{style}" data-action="{escape(button.action_id)}" '
        f'data-message="{message_id}" title="{escape(button.fallback)}"{asks}>{label}</button>'
    )


def user_text_html(text: str, is_user: Callable[[str], bool] = lambda _name: False) -> Markup:
    """What a person typed: the same subset, escaped first."""
    return markdown(text, is_user)
