"""A runbook's inputs as typed at `runbook start` (checked against their declared types, a
hostile value stays one argument), and the checklist card (buttons only for the waiting
step, each typing the `runbook-step` command that is its text fallback)."""

from __future__ import annotations

import pytest

from opsroom.commands.catalog import Catalog
from opsroom.commands.parser import parse
from opsroom.config.loader import DEMO_CONFIG
from opsroom.core import ParseError, Place, Principal
from opsroom.runbooks.card import render_card
from opsroom.runbooks.check import fill
from opsroom.runbooks.desk import parse_inputs
from opsroom.runbooks.parse import load_runbooks
from opsroom.runbooks.store import RunbookRun, StepRow

BOOK = load_runbooks([DEMO_CONFIG.parent / "runbooks"])[0]


def test_inputs_get_their_types_and_defaults(catalog: Catalog) -> None:
    assert parse_inputs(BOOK, "", catalog.lists) == {"env": "production", "version": ""}
    assert parse_inputs(BOOK, "env=staging version=v4.12.3", catalog.lists) == {"env": "staging", "version": "v4.12.3"}


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("env=prod", "did you mean `production`"),
        ("colour=red", "has no input `colour`"),
        ("production", "inputs are name=value"),
        ("version=v1;rm", "version"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(catalog: Catalog, words: str, says: str) -> None:
    with pytest.raises(ParseError, match=says):
        parse_inputs(BOOK, words, catalog.lists)


def test_a_filled_value_stays_one_argument(catalog: Catalog) -> None:
    step = BOOK.step("rollback")
    assert step is not None
    text = fill(step.text, {"version": "v1 --dry-run env=staging", "env": "production"})
    with pytest.raises(ParseError):  # one (invalid) version, not a flag and a second env
        parse(text, catalog, Principal("alice"), Place("test", "ops"))


def run_with(states: dict[str, str]) -> RunbookRun:
    steps = tuple(
        StepRow(s.id, n, states.get(s.id, "pending"), "", None, "", None, None) for n, s in enumerate(BOOK.steps)
    )
    return RunbookRun(
        4,
        BOOK.id,
        BOOK.title,
        BOOK.digest,
        {"env": "production", "version": "v4.12.3"},
        "alice",
        None,
        Place("test", "ops"),
        "m1",
        "active",
        steps,
    )


def test_the_card_offers_buttons_for_the_waiting_step_only() -> None:
    minted: list[dict[str, str]] = []

    def mint(kind: str, payload: dict[str, str]) -> str:
        assert kind == "command.run"
        minted.append(payload)
        return f"id{len(minted)}"

    done = {"status": "ok", "error-rate": "ok", "logs": "failed", "step-4": "ok", "step-5": "skipped"}
    card = render_card(BOOK, run_with({**done, "rollback": "waiting"}), mint)
    assert [(b.label, b.fallback) for b in card.buttons()] == [
        ("Run", "/runbook-step 4 rollback run"),
        ("Skip", "/runbook-step 4 rollback skip"),
    ]
    assert minted == [{"text": "runbook-step 4 rollback run"}, {"text": "runbook-step 4 rollback skip"}]
    assert "5/7 steps" in card.text and "❌ [logs]" in card.as_text()
    manual = render_card(BOOK, run_with({**done, "rollback": "ok", "step-7": "waiting"}), mint)
    assert [b.label for b in manual.buttons()] == ["Done", "Skip"]
    running = render_card(BOOK, run_with({**done, "rollback": "running"}), mint)
    assert running.buttons() == ()
