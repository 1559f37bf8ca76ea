"""Block Kit rendering: what a Slack user sees, and that user text stays inert."""

from __future__ import annotations

import pytest

from opsroom.chat.slack_render import mrkdwn, render, unescape
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Principal, Section


def test_every_block_kind_renders() -> None:
    message = Message(
        "deploy done",
        blocks=(
            Section("*deploy* api-gateway"),
            Fields((("env", "staging"), ("version", "v2.8.0"))),
            Code("line 1\nline 2"),
            Context("run #4 · 3.2s"),
            Actions(
                (
                    Button("Cancel", "signed", style="danger"),
                    Button("Docs", "", url="https://docs.example.com"),
                )
            ),
        ),
    )
    blocks = render(message)["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "section", "context", "actions"]
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "*deploy* api-gateway"}
    assert [f["text"] for f in blocks[1]["fields"]] == ["*env*\nstaging", "*version*\nv2.8.0"]
    assert blocks[2]["text"]["text"] == "```\nline 1\nline 2\n```"
    assert blocks[3]["elements"][0]["text"] == "run #4 · 3.2s"
    cancel, docs = blocks[4]["elements"]
    assert cancel["value"] == "signed" and cancel["style"] == "danger"
    assert docs["url"] == "https://docs.example.com" and "value" not in docs


def test_tone_adds_one_icon_only() -> None:
    assert render(Message.plain("failed", tone="failure"))["blocks"][0]["text"]["text"] == ":x: failed"
    # the run reporter writes its own icon: no second one
    assert (
        render(Message.plain("✅ deploy · succeeded", tone="success"))["blocks"][0]["text"]["text"]
        == "✅ deploy · succeeded"
    )


def test_mentions_use_the_slack_id_or_the_name() -> None:
    message = Message.plain("you are on call")
    message = Message(
        message.text,
        message.blocks,
        mentions=(
            Principal("alice", identities={"slack": "U0ALICE"}),
            Principal("bob"),
            Principal("eve", identities={"slack": "<!channel>"}),
        ),
    )
    text = render(message)["blocks"][0]["text"]["text"]
    assert text == "<@U0ALICE> @bob @eve you are on call"


@pytest.mark.parametrize("hostile", ["<!channel>", "<!here>", "<@U0BOSS>", "<#C0PROD>", "<!subteam^S1>"])
def test_control_sequences_from_user_text_are_escaped(hostile: str) -> None:
    for message in (
        Message.plain(f"x {hostile}"),
        Message("x", blocks=(Code(hostile),)),
        Message("x", blocks=(Fields((("k", hostile),)),)),
        Message("x", blocks=(Context(hostile),)),
    ):
        rendered = str(render(message))
        assert hostile not in rendered


def test_links_of_the_message_subset_survive_escaping() -> None:
    assert (
        mrkdwn("see <https://x.io/a?b=1&c=2|the docs> & more") == "see <https://x.io/a?b=1&amp;c=2|the docs> &amp; more"
    )
    assert mrkdwn("<javascript:alert(1)|x>") == "&lt;javascript:alert(1)|x&gt;"
    assert unescape("a &lt;b&gt; &amp; c") == "a <b> & c"


def test_long_output_is_cut_to_its_tail_within_slack_limits() -> None:
    output = "\n".join(f"line {i}" for i in range(2000))
    text = render(Message("x", blocks=(Code(output),)))["blocks"][0]["text"]["text"]
    assert len(text) <= 3000 and "line 1999" in text and "truncated" in text


def test_code_cannot_close_its_fence_early() -> None:
    text = render(Message("x", blocks=(Code("a ``` *bold*"),)))["blocks"][0]["text"]["text"]
    assert text.count("```") == 2


def test_limits_fields_buttons_and_blocks() -> None:
    many_fields = Fields(tuple((f"k{i}", "v") for i in range(23)))
    blocks = render(Message("x", blocks=(many_fields,)))["blocks"]
    assert [len(b["fields"]) for b in blocks] == [10, 10, 3]
    many_sections = tuple(Section(str(i)) for i in range(80))
    blocks = render(Message("x", blocks=many_sections))["blocks"]
    assert len(blocks) == 50 and "more not shown" in blocks[-1]["elements"][0]["text"]
    with pytest.raises(ValueError, match="2000"):
        render(Message("x", blocks=(Actions((Button("Go", "x" * 2001),)),)))


def test_button_action_ids_are_unique_across_actions_blocks() -> None:
    message = Message("x", blocks=(Actions((Button("A", "1"), Button("B", "2"))), Actions((Button("C", "3"),))))
    ids = [e["action_id"] for b in render(message)["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["opsroom_0", "opsroom_1", "opsroom_2"]
