"""Mattermost rendering: Markdown body, one attachment for colour, fields, small print, buttons."""

from __future__ import annotations

from typing import Any

from opsroom.chat.mattermost_render import markdown, render
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Section


def integration(index: int, action_id: str, **_: Any) -> dict[str, Any]:
    return {"url": "https://o.example.com/mattermost/actions", "context": {"action_id": action_id}}


def test_subset_becomes_markdown() -> None:
    assert (
        markdown("*deploy* _now_ <https://x.io|docs> <https://y.io>")
        == "**deploy** _now_ [docs](https://x.io) https://y.io"
    )
    assert markdown("2 * 3 * 4") == "2 * 3 * 4"  # arithmetic is not bold


def test_broadcast_mentions_are_broken() -> None:
    for word in ("@channel", "@all", "@here", "@ALL"):
        assert word not in markdown(f"hi {word}!")
        assert word not in render(Message("x", blocks=(Code(word),)), [], integration)["message"]


def test_full_message() -> None:
    message = Message(
        "deploy done",
        tone="success",
        blocks=(
            Section("*deploy* api-gateway"),
            Fields((("env", "staging"),)),
            Code("ok", language="text"),
            Context("run #4"),
            Actions((Button("Cancel", "signed", style="danger"), Button("Docs", "", url="https://d.io"))),
        ),
    )
    out = render(message, ["@alice"], integration)
    assert (
        out["message"] == ":white_check_mark: @alice **deploy** api-gateway\n\n```text\nok\n```\n\n[Docs](https://d.io)"
    )
    [attachment] = out["props"]["attachments"]
    assert attachment["color"] == "#2eb886"
    assert attachment["fields"] == [{"title": "env", "value": "staging", "short": True}]
    assert attachment["footer"] == "run #4"
    [action] = attachment["actions"]
    assert action["id"] == "opsroom0" and action["name"] == "Cancel" and action["style"] == "danger"
    assert action["integration"]["context"] == {"action_id": "signed"}


def test_plain_info_message_has_no_attachment_so_an_edit_clears_old_buttons() -> None:
    assert render(Message.plain("hello"), [], integration) == {"message": "hello", "props": {}}


def test_long_output_keeps_its_tail_under_the_post_limit() -> None:
    out = render(Message("x", blocks=(Code("\n".join(str(i) for i in range(10_000))),)), [], integration)
    assert len(out["message"]) < 16_383 and "9999" in out["message"]
