"""Every message opsroom can produce fits what Slack and Mattermost accept, however long,
empty, unicode-heavy or markup-heavy the output: run outcomes and progress from the real
reporter, fed hostile outputs, plus messages at and beyond every limit."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.platform_limits import block_kit_errors, mattermost_post_errors

from opsroom.chat import mattermost_render, slack_render
from opsroom.core import Actions, Button, Code, CommandSpec, Context, Fields, Invocation, Message, Place, Section
from opsroom.core.identity import Principal
from opsroom.core.runs import RunState
from opsroom.reporter import Reporter
from opsroom.runs.service import RunOutcome

OUTPUTS = {
    "empty": "",
    "blank": " \n\t\n ",
    "long": "x" * 120_000,
    "many lines": "\n".join(f"line {i}" for i in range(20_000)),
    "unicode": "déploiement ✅ 🚀 مرحبا שלום 中文 e\u0301 \u200b" * 2_000,
    "markup": "<!channel> @here ``` *bold* _it_ <http://x|y> & < > `code` ~~s~~ [l](http://z)" * 500,
    "ampersands": "&" * 5_000,  # triples in length when escaped for Slack
}


def invocation(raw: str) -> Invocation:
    alice = Principal("alice", roles=("sre",), identities={"slack": "U0ALICE"})
    return Invocation(
        CommandSpec("deploy"),
        {"service": raw[:50]},
        f"deploy {raw}",
        alice,
        Place("slack", "C0OPS", channel_name="#ops"),
    )


def reporter_messages(output: str) -> list[Message]:
    reporter = Reporter(None, lambda *a, **k: "signed-" + "a" * 100)  # type: ignore[arg-type]
    inv = invocation(output)
    reporter.track(1, inv)
    out = []
    for state in (RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT):
        outcome = RunOutcome(1, state, 1, 2.5, output, output[:5000], output[:3000], 0)
        out.append(reporter.final_message(1, inv, outcome))
    out.append(reporter._running_message(1, reporter._runs[1], None))
    return out


def extremes() -> list[Message]:
    button = Button("Approve", "signed-id", "primary")
    return [
        Message(""),
        Message("", (Section(""), Context(""), Section("   "))),
        Message("t", tuple(Section(f"part {i}") for i in range(80))),
        Message("t", (Fields(tuple((f"k{i}" * 50, "v" * 3000) for i in range(25))),)),
        Message("t", (Fields((("", ""),)),)),
        Message("t", (Actions(tuple(button for _ in range(40))),)),
        Message("t", (Actions((Button("", "id"), Button("L" * 300, "id2"))),)),
        Message("t", (Actions((Button("runbook", "", url="https://example.com/" + "p" * 5_000),)),)),
        Message("t", (Actions(()),), tone="warning"),
        Message("x" * 50_000, (Code(""), Context("c" * 10_000))),
    ]


def all_messages() -> list[tuple[str, Message]]:
    cases = [(f"reporter/{name}", m) for name, out in OUTPUTS.items() for m in reporter_messages(out)]
    cases += [(f"extreme/{i}", m) for i, m in enumerate(extremes())]
    return cases


CASES = all_messages()


def _integration(index: int, action_id: str, **_: Any) -> dict[str, Any]:
    return {"url": "https://opsroom.example.com/mattermost/actions", "context": {"action_id": action_id}}


@pytest.mark.parametrize(("name", "message"), CASES, ids=[c[0] for c in CASES])
def test_slack_accepts_it(name: str, message: Message) -> None:
    payload = slack_render.render(message)
    assert block_kit_errors(payload["text"], payload["blocks"]) == []


@pytest.mark.parametrize(("name", "message"), CASES, ids=[c[0] for c in CASES])
def test_mattermost_accepts_it(name: str, message: Message) -> None:
    payload = mattermost_render.render(message, ["@alice"], _integration)
    assert mattermost_post_errors(payload) == []


def test_what_is_cut_says_so_and_nothing_is_silently_lost() -> None:
    payload = slack_render.render(Message("t", tuple(Section(f"part {i}") for i in range(80))))
    assert "more not shown" in str(payload["blocks"][-1])
    link = slack_render.render(Message("t", (Actions((Button("runbook", "", url="https://e.com/" + "p" * 5000),)),)))
    assert "too long" in str(link["blocks"])  # the link could not be a button: said in words
