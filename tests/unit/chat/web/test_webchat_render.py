"""Rendering the Message model as web chat HTML: escaped first, formatted second."""

from __future__ import annotations

from opsroom.chat.web import codec
from opsroom.chat.web.render import markdown, message_html
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Principal, Section


def test_markup_in_text_is_shown_as_text() -> None:
    html = str(markdown("<script>alert(1)</script> <img src=x onerror=alert(1)> \"q\" & 's'"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&amp;" in html


def test_the_markdown_subset() -> None:
    html = str(markdown("*bold* _it_ `a<b>` snake_case_word 2*3*4 <https://x.io/a?b=1&c=2|docs>"))
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>a&lt;b&gt;</code>" in html
    assert "snake_case_word" in html and "<em>case</em>" not in html
    assert '<a href="https://x.io/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">docs</a>' in html
    fenced = str(markdown("before\n```\n<b>x</b>\n```\nafter"))
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre>" in fenced


def test_only_http_links_become_links() -> None:
    for text in (
        "<javascript:alert(1)|click>",
        '<https://x.io" onmouseover="alert(1)|x>',
        "<data:text/html,hi|x>",
    ):
        html = str(markdown(text))
        assert "<a " not in html and "&lt;" in html, text


def test_mentions_of_known_users_only() -> None:
    html = str(markdown("ping @alice and @mallory, mail a@b.io", {"alice"}.__contains__))
    assert '<span class="mention">@alice</span>' in html
    assert "@mallory" in html and 'mention">@mallory' not in html and 'mention">@b' not in html


def test_a_full_message_with_fields_code_context_and_buttons() -> None:
    message = Message(
        "summary",
        (
            Section("run #4 *running*"),
            Fields((("by", "<b>eve</b>"),)),
            Code("line <1>"),
            Context("0.5s"),
            Actions(
                (
                    Button("Cancel <now>", 'abc"def', "danger", "/cancel 4"),
                    Button("Docs", "", url="javascript:alert(1)"),
                )
            ),
        ),
        tone="running",
        mentions=(Principal("carol"),),
    )
    html = str(message_html(message, message_id=7))
    assert "<strong>running</strong>" in html and "&lt;b&gt;eve&lt;/b&gt;" in html
    assert '<pre class="code"><code>line &lt;1&gt;</code></pre>' in html
    assert 'data-action="abc&#34;def"' in html and 'data-message="7"' in html and "Cancel &lt;now&gt;" in html
    assert "javascript:" not in html, "a link button with a script URL is dropped"
    assert '<span class="mention">@carol</span>' in html


def test_codec_round_trip_and_button_ids() -> None:
    message = Message(
        "t",
        (
            Section("s"),
            Fields((("a", "b"),)),
            Code("c", "sh"),
            Context("x"),
            Actions((Button("Go", "id1", "primary", "/go"),)),
        ),
        tone="success",
    )
    data = codec.encode(message)
    assert codec.decode(data) == message
    assert codec.button_ids(data) == {"id1"} and codec.button_ids(None) == set()
    # A stored body with unknown parts still decodes to something safe.
    odd = codec.decode(
        {
            "text": "x",
            "tone": "evil",
            "blocks": [
                {"type": "iframe"},
                {"type": "actions", "buttons": [{"label": "b", "action_id": "i", "style": "<script>"}]},
            ],
        }
    )
    assert odd.tone == "info" and odd.buttons()[0].style == "default"
