"""The Message model as Matrix content: what a Matrix user sees, and what output cannot do."""

from __future__ import annotations

from opsroom.chat.matrix_render import render
from opsroom.core import Actions, Button, Code, Fields, Message, Principal, Section

EMOJI = {"approve": "✅", "deny": "❌"}


def approval() -> Message:
    return Message(
        "run #7 needs approval",
        (
            Section("🗳️ *deploy* `payments` · run #7 needs approval"),
            Fields((("requested by", "alice"),)),
            Actions(
                (
                    Button("Approve", "tok-a", "primary", "/approve 7"),
                    Button("Deny", "tok-d", "danger", "/deny 7 REASON"),
                )
            ),
        ),
        tone="warning",
        mentions=(Principal("carol", identities={"matrix": "@carol:example.org"}), Principal("dave")),
    )


def test_buttons_become_reaction_and_text_hints_and_never_leak_their_tokens() -> None:
    content = render(approval(), [("@carol:example.org", "carol")], EMOJI)
    assert "*Approve*: react ✅ or type `!approve 7`" in content["body"]
    assert "*Deny*: react ❌ or type `!deny 7 <reason>`" in content["body"]
    assert "tok-a" not in str(content) and "tok-d" not in str(content)


def test_a_deny_that_asks_why_names_exactly_what_to_type_and_offers_no_reaction() -> None:
    asking = Button("Deny", "tok-d", "danger", "/deny 7 REASON", asks="Why deny? (required; the requester sees it)")
    content = render(Message("x", (Actions((asking,)),)), [], EMOJI)
    assert "*Deny*: type `!deny 7 <reason>` — Why deny? (required; the requester sees it)" in content["body"]
    assert "❌" not in content["body"], "a reaction cannot carry the reason"


def test_approvers_are_pinged_with_pills_and_only_they_are_notified() -> None:
    content = render(approval(), [("@carol:example.org", "carol")], EMOJI)
    assert content["m.mentions"] == {"user_ids": ["@carol:example.org"]}
    assert '<a href="https://matrix.to/#/@carol:example.org">carol</a>' in content["formatted_body"]


def test_command_output_cannot_inject_html_or_ping_the_room() -> None:
    evil = Message("x", (Section("<img src=x onerror=alert(1)> *bold* @room"), Code("</code><script>@room")))
    content = render(evil, [], EMOJI)
    html = content["formatted_body"]
    assert "<img" not in html and "<script>" not in html and "&lt;img" in html
    assert "<strong>bold</strong>" in html
    assert "@room" not in content["body"] and "@room" not in html
    assert content["m.mentions"] == {"user_ids": []}


def test_links_render_as_anchors_and_plain_text_keeps_the_url() -> None:
    content = render(Message.plain("see <https://runbooks.example/db|the runbook>"), [], EMOJI)
    assert '<a href="https://runbooks.example/db">the runbook</a>' in content["formatted_body"]
    assert "the runbook (https://runbooks.example/db)" in content["body"]
