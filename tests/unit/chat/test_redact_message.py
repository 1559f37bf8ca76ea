"""``redact_message`` asks the redactor once about all of a message's texts (``all_clean``)
and redacts text by text only when that look finds something: the result must be the
same as redacting every text on its own."""

from __future__ import annotations

from opsroom.chat.base import redact_message
from opsroom.core import Actions, Button, Code, Context, Fields, Message, Section
from opsroom.policy.redaction import Redactor

SECRETS = ["ghp_" + "a" * 36, "hunter2-value", "password=correct-horse", "AKIAIOSFODNN7EXAMPLE"]


def _message(secret: str, where: int) -> Message:
    texts = ["run #7 running: deploy", "⏳ *deploy* `api`", "by alice", "hello", "k", "v", "Cancel", "/cancel 7"]
    texts[where] = f"x {secret} y"
    return Message(
        texts[0],
        (
            Section(texts[1]),
            Context(texts[2]),
            Code(texts[3]),
            Fields(((texts[4], texts[5]),)),
            Actions((Button(texts[6], "id", "danger", texts[7]),)),
        ),
    )


def _each(message: Message, redactor: Redactor) -> Message:
    """The message redacted text by text (as before ``all_clean``)."""
    never_all_clean = Redactor(secret_values=["hunter2-value"], patterns=[r"^\d{3}-\d{3}$"])
    assert not never_all_clean.all_clean(["plain"])  # a pattern without a fixed piece
    return redact_message(message, never_all_clean)


def test_a_secret_in_any_text_of_a_message_is_masked() -> None:
    redactor = Redactor(secret_values=["hunter2-value"])
    for secret in SECRETS:
        for where in range(8):
            message = _message(secret, where)
            cleaned = redact_message(message, redactor)
            assert cleaned != message
            assert secret not in repr(cleaned)
            assert cleaned == _each(message, redactor)


def test_a_clean_message_is_returned_as_it_is() -> None:
    redactor = Redactor(secret_values=["hunter2-value"])
    message = _message("nothing here", 3)
    assert redactor.all_clean(["a", "b"])
    assert redact_message(message, redactor) is message


def test_a_shape_across_two_texts_only_makes_it_look_at_each() -> None:
    redactor = Redactor()
    message = Message("ghp_", (Section("a" * 40),))
    assert redact_message(message, redactor) == message  # neither text alone holds a token


def test_an_anchored_pattern_is_searched_text_by_text() -> None:
    redactor = Redactor(patterns=[r"^\d{3}-\d{3}$"])  # no fixed piece: never asked joined
    message = Message("plain", (Section("123-456"),))
    assert redact_message(message, redactor).blocks[0] == Section("[REDACTED]")
