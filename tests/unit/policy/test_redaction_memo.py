"""Texts found clean are remembered (``Redactor._known_clean``) and several texts are looked
at as one (``Redactor.all_clean``): neither may ever let a secret through. A memo answer
holds only for the redactor that gave it, and one look at texts joined must find whatever
a look at each would."""

from __future__ import annotations

import random
import re

import pytest
from tests.security.corpus import CORPUS

from opsroom.chat.base import ChatHub, redact_message
from opsroom.core import Message, Section
from opsroom.policy import redaction
from opsroom.policy.redaction import MASK, Redactor
from opsroom.policy.secret_shapes import KEYED_SECRETS, TOKEN_PATTERNS

NEIGHBOURS = ("", "run #12 started", "deploy api", "x", "key", "=", '"', "-", "password", "://u:", "@host", "end\n")


def test_texts_found_clean_together_are_remembered_and_a_secret_is_not() -> None:
    redactor = Redactor(secret_values=["hunter2-value"])
    assert redactor.all_clean(["ping hello", "sre-ping", "run #7 started"])
    assert {"ping hello", "sre-ping", "run #7 started"} <= set(redactor._known_clean)
    leaked = ["ping hello", "password=hunter2-value", "ghp_" + "a" * 36]
    assert not redactor.all_clean(leaked)
    assert not any("hunter2" in t or "ghp_" in t for t in redactor._known_clean)
    assert redactor.redact(leaked[1])[0] == f"password={MASK}"


@pytest.mark.parametrize("pattern", [r"^internal-[a-z0-9]{8}$", r"\Ainternal-[a-z0-9]{8}\Z", r"(?<!\n)internal-\w{8}"])
def test_an_anchored_configured_pattern_is_masked_in_a_message_of_several_texts(pattern: str) -> None:
    """``^…$`` matches a text alone, not the same text joined after another one: the one
    look at a message's texts must not call it clean (it did: the Section was posted)."""
    redactor = Redactor(patterns=[pattern])
    secret = "internal-abcd1234"
    assert redactor.redact(secret) == (MASK, 1)
    assert not redactor.all_clean(["run #1", secret, "done"])
    assert not redactor.all_clean_values(["run #1", {"detail": secret}])
    message = Message(text="run #1", blocks=(Section("header"), Section(secret), Section("footer")))
    assert redact_message(message, redactor).blocks[1] == Section(MASK)
    assert redactor.clean({"a": "run #1", "b": secret}) == {"a": "run #1", "b": MASK}


@pytest.mark.parametrize("pattern", [*TOKEN_PATTERNS, *KEYED_SECRETS], ids=lambda p: p.pattern[:30])
def test_opsroom_shapes_found_in_a_text_are_found_in_it_joined_with_others(pattern: re.Pattern[str]) -> None:
    """What ``ShapeFilter(joinable=…)`` relies on for opsroom's own shapes."""
    for _, value, _ in CORPUS:
        for text in (value, *value.split("\n"), f"deploy failed: {value} (retrying)"):
            if pattern.search(text) is None:
                continue
            for before in NEIGHBOURS:
                for after in NEIGHBOURS:
                    assert pattern.search(f"{before}\n{text}\n{after}") is not None, (before, text, after)


def test_each_corpus_secret_among_other_texts_is_never_all_clean() -> None:
    redactor = Redactor(secret_values=["hunter2-prod-password"])
    for _, value, _ in CORPUS:
        for before in NEIGHBOURS:
            assert not redactor.all_clean([before, value, "run #3 succeeded"]), value
            assert not redactor.all_clean(["by user7", *value.split("\n")]) or all(
                redactor.redact(t)[1] == 0 for t in value.split("\n")
            )


def test_all_clean_says_clean_only_when_each_text_redacts_to_itself() -> None:
    rng = random.Random(14)
    fragments = [
        "ghp_",
        "a" * 12,
        "token",
        "=",
        ": ",
        "hunter2-value",
        "^",
        "key-",
        "\n",
        " ",
        "sk-",
        "x" * 20,
        "pass",
        "'",
    ]
    for patterns in ([], [r"^key-\w{4}$"], [r"key-\w{4}\b"]):
        redactor = Redactor(secret_values=["hunter2-value"], patterns=patterns)
        for _ in range(2000):
            texts = ["".join(rng.choice(fragments) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 4))]
            if redactor.all_clean(texts):
                fresh = Redactor(secret_values=["hunter2-value"], patterns=patterns)
                assert all(fresh.redact(t) == (t, 0) for t in texts), (patterns, texts)


def test_a_secret_learnt_after_a_text_was_found_clean_is_masked() -> None:
    """The memo's answers belong to the values and patterns that gave them: a redactor given
    a new secret value after a text was remembered clean masks that same text."""
    text = "connect with s3cr3t-pass-value now"
    redactor = Redactor()
    assert redactor.redact(text) == (text, 0) and redactor.all_clean([text, "ok"])
    assert text in redactor._known_clean
    redactor._value_re = re.compile(re.escape("s3cr3t-pass-value"))  # a value learnt late
    assert redactor.redact(text) == (f"connect with {MASK} now", 1)
    assert not redactor.all_clean([text, "ok"])


def test_sinks_using_the_installed_redactor_mask_a_secret_of_a_newly_installed_one() -> None:
    text = "connect with s3cr3t-pass-value now"
    before = redaction.current()
    hub = ChatHub()  # no redactor of its own: the installed one, asked at each message
    try:
        redaction.install(Redactor())
        assert hub.clean(Message(text=text)).text == text
        redaction.install(Redactor(secret_values=["s3cr3t-pass-value"]))
        assert hub.clean(Message(text=text)).text == f"connect with {MASK} now"
        assert redaction.current().clean({"detail": text}) == {"detail": f"connect with {MASK} now"}
    finally:
        redaction.install(before)


def test_the_memo_stays_bounded_and_keeps_no_long_text() -> None:
    redactor = Redactor()
    for n in range(3000):
        assert redactor.all_clean([f"run #{n} started", f"ping hello{n}", "sre-ping"])
        assert redactor.redact(f"run #{n} succeeded") == (f"run #{n} succeeded", 0)
    assert 0 < len(redactor._known_clean) <= redaction._KNOWN_CLEAN_MAX
    long_text = "all good " * 1000
    assert redactor.all_clean([long_text]) and redactor.redact(long_text) == (long_text, 0)
    assert long_text not in redactor._known_clean
    assert redactor.all_clean([f"text {n}" for n in range(redaction._KNOWN_CLEAN_MAX + 1)])
    assert len(redactor._known_clean) <= redaction._KNOWN_CLEAN_MAX
