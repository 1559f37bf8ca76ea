"""The final message's shortcuts (reporter.py) give what the plain construction gave: ``tail``
returns all of a short output without splitting it, and ``final_message`` writes its small
print as it grows. Both are compared here with the code they replaced, kept verbatim."""

from __future__ import annotations

import random
from typing import Any

from opsroom.chat.base import ChatHub
from opsroom.clock import elapsed as fmt_duration
from opsroom.core import Code, CommandSpec, Context, Invocation, Message, Place, Principal, RunState, Section
from opsroom.reporter import TONES, Reporter, tail
from opsroom.runs.service import RunOutcome


def _plain_tail(text: str, max_chars: int, max_lines: int) -> tuple[str, bool]:
    lines = text.rstrip("\n").split("\n")
    cut = len(lines) > max_lines
    lines = lines[-max_lines:]
    out = "\n".join(lines)
    if len(out) > max_chars:
        out, cut = out[-max_chars:], True
    return out, cut


def _plain_final(reporter: Reporter, run_id: int, inv: Invocation, outcome: RunOutcome) -> Message:
    t = reporter._runs[run_id]
    state = outcome.state
    parts = [fmt_duration(outcome.duration)]
    if outcome.exit_code is not None:
        parts.append(f"exit {outcome.exit_code}")
    blocks: list[Any] = [Section(reporter._header(run_id, t, state))]
    if outcome.error:
        blocks.append(Section(outcome.error))
    if outcome.result:
        blocks.append(Section(outcome.result))
    if outcome.output.strip():
        shown, cut = _plain_tail(outcome.output, reporter.chat_output_chars, reporter.chat_output_lines)
        blocks.append(Code(shown))
        if cut:
            parts.append(f"output cut — full output: /run {run_id}")
    blocks.append(Context(f"by {inv.principal.label} · " + " · ".join(parts)))
    return Message(
        f"run #{run_id} {state.value}: {inv.command.name}",
        tuple(blocks),
        tone=TONES.get(state, "info"),
        extra={"final": "true"},
    )


def test_tail_is_the_split_and_join_it_replaced() -> None:
    rng = random.Random(3)
    pieces = ["a", "line", "\n", "\n\n", "", "é😀", " ", "x" * 40]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        max_chars, max_lines = rng.randrange(0, 120), rng.randrange(0, 12)
        assert tail(text, max_chars, max_lines) == _plain_tail(text, max_chars, max_lines), (text, max_chars, max_lines)


def test_final_message_is_the_one_built_before() -> None:
    rng = random.Random(5)
    reporter = Reporter(ChatHub(), lambda *_: "signed", chat_output_chars=60, chat_output_lines=4)
    place = Place("web", "ops", channel_name="#ops")
    inv = Invocation(
        CommandSpec("deploy"), {"service": "api"}, "deploy api", Principal("alice", display_name="Al"), place
    )
    outputs = ["", "pong\n", "  \n", "one\ntwo\nthree\nfour\nfive\n", "x" * 100, "ok"]
    for run_id in range(1, 400):
        reporter.track(run_id, inv)
        outcome = RunOutcome(
            run_id,
            rng.choice(list(RunState)),
            rng.choice([None, 0, 1, 137]),
            rng.choice([0.0004, 2.5, 75.0, 4000.0]),
            rng.choice(outputs),
            rng.choice(["", "https://example.test/1"]),
            rng.choice(["", "timed out after 5m"]),
            0,
        )
        got = reporter.final_message(run_id, inv, outcome)
        want = _plain_final(reporter, run_id, inv, outcome)
        assert got == want and got.extra == want.extra
