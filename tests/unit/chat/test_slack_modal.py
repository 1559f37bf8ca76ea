"""The Deny dialog always fits Slack's modal limits (checked by the fake's own rules)."""

from __future__ import annotations

from tests.fakes.slack import modal_errors, view_submission

from opsroom.chat.slack import modal
from opsroom.chat.slack_render import render
from opsroom.core import Actions, Button, Message


def test_the_dialog_fits_whatever_the_label_question_and_value() -> None:
    for label, question in [
        ("Deny", "Why deny?"),
        ("D" * 100, "? " * 3000),
        ("", "x"),
        ("🚫 Deny ünïcode", "<b>why</b>"),
    ]:
        view = modal.ask_view(question, label, {"v": "a" * 2000, "ch": "C0OPS", "m": "1.2", "t": ""})
        assert view is not None and modal_errors(view) == []


def test_a_click_that_cannot_travel_in_the_metadata_opens_no_dialog() -> None:
    assert modal.ask_view("why?", "Deny", {"v": "a" * 3100}) is None


def test_an_asking_button_carries_its_question_and_the_submission_gives_back_the_reason() -> None:
    asked = "Why deny? (required; the requester sees it) " * 10
    payload = render(Message("approve?", (Actions((Button("Deny", "signed-id", "danger", asks=asked),)),)))
    [button] = payload["blocks"][-1]["elements"]
    assert len(button["action_id"]) <= 255 and button["value"] == "signed-id"
    question = modal.asks(button)
    assert question.startswith("Why deny? (required; the requester sees it)")
    view = modal.ask_view(question, "Deny", {"v": "signed-id", "ch": "C0OPS"})
    assert view is not None
    meta, reason = modal.submitted(view_submission(view, "  not\n during   the sale "))
    assert meta == {"v": "signed-id", "ch": "C0OPS"} and reason == "not during the sale"
    assert modal.asks({"action_id": "opsroom_0", "value": "signed-id"}) == ""  # a plain button asks nothing
