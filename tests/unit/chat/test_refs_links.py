"""`run #N`, `ticket #N`, `alert #N` / `group #N` and `INC-N` become links: in the web chat
(escaped HTML, relative to the server) and, through ChatHub, on every other platform as
``<url|label>`` when ``server.public_url`` is configured (unchanged without one)."""

from __future__ import annotations

import pytest

from opsroom.chat.base import ChatHub
from opsroom.chat.slack_render import render
from opsroom.chat.web.refs import plain_links
from opsroom.chat.web.render import markdown
from opsroom.core import Code, Context, Message, MessageRef, Place, Section

BASE = "https://ops.example.com"


def test_web_chat_links_references_and_threads_without_building_markup() -> None:
    html = str(markdown("run #12 done; ticket #3 opened. INC-2 Thread: /chat/ops?thread=5#m9 `run #4` <b>run #5</b>"))
    assert '<a class="ref" href="/console/runs/12">run #12</a>' in html
    assert '<a class="ref" href="/console/tickets/3">ticket #3</a>' in html
    assert '<a class="ref" href="/console/incidents/2">INC-2</a>' in html
    assert '<a class="ref" href="/chat/ops?thread=5#m9">in #ops</a>' in html
    assert "<code>run #4</code>" in html, "not inside code"
    assert "&lt;b&gt;" in html and "<b>" not in html
    label = str(markdown("<https://x.example/1|see run #3>"))
    assert label.count("<a ") == 1, "no link inside a link"


def test_other_platforms_get_urls_only_with_a_public_url() -> None:
    assert plain_links("run #12 and alert #3", "") == "run #12 and alert #3"
    out = plain_links("run #12, group #3, `run #4`, <https://x|run #5>", BASE)
    assert out.startswith(f"<{BASE}/console/runs/12|run #12>, <{BASE}/console/alerts/3|group #3>")
    assert "`run #4`" in out and "<https://x|run #5>" in out


class Recorder:
    name = "slack"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        from opsroom.chat.base import Capabilities

        self.capabilities = Capabilities(threads=True, edits=True)

    async def send(self, place: Place, message: Message) -> MessageRef:
        self.sent.append(message)
        return MessageRef(place, "1")


@pytest.mark.parametrize("public_url", ["", BASE])
async def test_chathub_links_for_slack_when_configured(public_url: str) -> None:
    hub = ChatHub(public_url=public_url)
    slack = Recorder()
    hub.add(slack)  # type: ignore[arg-type]
    message = Message("x", (Section("ticket #1 opened"), Context("run #7"), Code("run #8")))
    await hub.send(Place("slack", "C1", channel_name="#ops"), message)
    [sent] = slack.sent
    blocks = render(sent)["blocks"]
    text = str(blocks)
    if public_url:
        assert f"<{BASE}/console/tickets/1|ticket #1>" in text and f"<{BASE}/console/runs/7|run #7>" in text
    else:
        assert "<https://" not in text
    assert sent.blocks[2] == Code("run #8"), "code is never touched"
