"""The parser's tokenizer: its fast path for text without quotes or backslashes must give
exactly the tokens shlex gives."""

from __future__ import annotations

import random
import shlex

from opsroom.commands.parser import _tokens

ALPHABET = "ab=-/. \t\r\n\x0b\x0c\u00a0\u2003é;|$()`*#~\x00"


def test_fast_path_matches_shlex_on_random_text() -> None:
    rng = random.Random(1234)
    for _ in range(5000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24)))
        assert _tokens(text) == shlex.split(text, comments=False, posix=True), repr(text)


def test_only_shlex_whitespace_splits() -> None:
    # Unicode spaces and vertical tab/form feed are characters to shlex, not separators.
    assert _tokens("deploy\u00a0api\x0bstaging x") == ["deploy\u00a0api\x0bstaging", "x"]
    assert _tokens("  deploy \t api\r\n") == ["deploy", "api"]
    assert _tokens("echo #not-a-comment") == ["echo", "#not-a-comment"]


def test_quotes_group_words_like_shlex() -> None:
    assert _tokens('deploy reason="it is on fire" x') == ["deploy", "reason=it is on fire", "x"]
    assert _tokens("say 'a b'\"c d\" e") == ["say", "a bc d", "e"]
    assert _tokens("say '' x") == ["say", "", "x"]


def test_backslashes_are_kept_literally_outside_quotes() -> None:
    # shlex would give "anb" and "it works": a backslash silently lost is a changed argument.
    assert _tokens("say a\\nb") == ["say", "a\\nb"]
    assert _tokens("say it\\ works") == ["say", "it\\", "works"]
    assert _tokens("path=C:\\temp\\ x") == ["path=C:\\temp\\", "x"]
    assert _tokens("say 'a\\nb'") == ["say", "a\\nb"]


def test_inside_double_quotes_only_quote_and_backslash_escape() -> None:
    assert _tokens('say "a \\" b" "c\\\\d" "e\\nf"') == ["say", 'a " b', "c\\d", "e\\nf"]
