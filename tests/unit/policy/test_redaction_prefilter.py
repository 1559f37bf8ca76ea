"""The shape prefilter (policy/prefilter.py) never says "no" where a credential shape matches:
it only skips a regex whose fixed piece is absent from the text."""

from __future__ import annotations

import random
import re

from opsroom.policy.prefilter import _FOLD, ShapeFilter, required_pieces
from opsroom.policy.redaction import Redactor, StreamRedactor
from opsroom.policy.secret_shapes import BLOCK_BEGIN, BLOCK_END, KEYED_SECRETS, TOKEN_KINDS, TOKEN_PATTERNS

PATTERNS = (*TOKEN_PATTERNS, *KEYED_SECRETS)
SAMPLES = [
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "token=abcd1234",
    "TOKEN: s3cr3tvalue",
    "Authorization: Bearer abcdefghijklmnop",
    "BASIC dXNlcjpwYXNzd29yZA==",
    "postgres://app:hunter2@db:5432/x",
    "xoxb-1234567890-abcdefghij",
    "ghp_" + "a" * 36,
    "github_pat_" + "b" * 45,
    "glpat-" + "c" * 22,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk",
    "sk_live_" + "d" * 24,
    "sk-proj-" + "e" * 30,
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "client_secret: abc~defg",
    "123456789:AA" + "f" * 33,
    "DD_API_KEY=" + "0" * 32,
    "AccountKey=" + "g" * 30,
    "https://x.blob.core.windows.net/c?sv=1&sig=" + "h" * 25,
    "abc1Q~" + "i" * 32,
    # case-insensitive shapes written with the non-ASCII letters `re` folds to ASCII
    "\u017fecret=abcdefgh",
    "to\u212aen: abcdefgh",
    "AP\u0130_KEY=abcdefgh",
    "credent\u0131al=abcdefgh",
    "✅ deploy · password=correct-horse",
    'password: "correct horse battery"',
    "PGPASSWORD=abcdefgh",
    "clientSecret: abcdefgh",
    "DB_PASS=abcdefgh",
    "--password abcdefgh",
    "<ClientSecret>abcdefgh</ClientSecret>",
    "Authorization: Token abcdefghijkl",
    "redis://:abcdefgh@cache:6379",
    "dckr_pat_" + "j" * 27,
]


def test_every_builtin_shape_has_a_fixed_piece_to_look_for() -> None:
    missing = [kind for (kind, _), p in zip(TOKEN_KINDS, TOKEN_PATTERNS, strict=True) if required_pieces(p) is None]
    assert missing == []
    assert [p.pattern for p in KEYED_SECRETS if required_pieces(p) is None] == []


def test_the_fold_table_covers_every_non_ascii_letter_re_matches_with_an_ascii_one() -> None:
    letter = re.compile("(?i)[a-z]")
    found = {c for c in range(0x80, 0x110000) if letter.match(chr(c))}
    assert found == set(_FOLD)
    for code, ascii_letter in _FOLD.items():
        assert re.fullmatch(f"(?i){ascii_letter}", chr(code))


def test_samples_with_a_shape_are_never_skipped() -> None:
    shapes = ShapeFilter(PATTERNS)
    for text in SAMPLES:
        assert any(p.search(text) for p in PATTERNS), text
        assert shapes.might_match(text), text
        assert Redactor().redact(text)[1] >= 1, text


def test_generated_texts_agree_with_searching_every_pattern() -> None:
    """5,000 texts built from pieces of the samples, random case, the fold letters and
    noise: wherever a pattern matches, the filter says it might."""
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=:/.@ ~\n\"'" + "".join(map(chr, _FOLD))
    shapes = ShapeFilter(PATTERNS)
    matched = 0
    for _ in range(5000):
        parts = []
        for _ in range(rng.randint(1, 4)):
            sample = rng.choice(SAMPLES)
            start = rng.randrange(len(sample))
            piece = sample[start : start + rng.randint(2, 40)]
            if rng.random() < 0.3:
                piece = "".join(c.swapcase() if rng.random() < 0.5 else c for c in piece)
            parts.append(piece)
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))))
        text = "".join(parts)
        if any(p.search(text) for p in PATTERNS):
            matched += 1
            assert shapes.might_match(text), text
    assert matched > 500  # the generator does produce shapes


def test_a_pattern_without_a_fixed_piece_is_always_searched() -> None:
    shapes = ShapeFilter((re.compile(r"\d{6}"),))
    assert shapes.might_match("code 123456") and not shapes.might_match("code 12345")


def test_the_trie_of_pieces_finds_a_text_exactly_when_one_piece_is_in_it() -> None:
    from opsroom.policy.prefilter import _literal_alternation

    pieces = ["gh", "github_pat_", "gl", "://", "https://", "ab", "abc", "b.", "Q~", "xox"]
    found = _literal_alternation(pieces)
    assert found is not None
    rng = random.Random(7)
    alphabet = "ghithub_pat_l:/sQ~xoabc. "
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert (found.search(text) is not None) == any(p in text for p in pieces), text


def test_all_clean_values_says_clean_only_when_clean_changes_nothing() -> None:
    class Label(str):
        pass

    token = "xoxb-123456789012-abcdefghijkl"
    redactor = Redactor(secret_values=["hunter2-prod-password"])
    cases: list[object] = [
        "plain text",
        {"args": {"service": "api"}, "n": 3, "ok": True, "none": None},
        {"nested": [("a", ["b", {"c": token}])]},
        ("x", ("y", "hunter2-prod-password")),
        [1, 2.5, None, "fine"],
        Label(token),
        {token: "the key is kept: clean() never masks keys"},
        {"deep": {"deeper": {"deepest": "password=abc123def456"}}},
        {"label": Label(token), "n": 1},  # a str subclass as a top-level dict value
        {"rules": ["sre"], "flag": False, "lock": None, "args": {"text": "hunter2-prod-password"}},
    ]
    for value in cases:
        assert redactor.all_clean_values([value]) is (redactor.clean(value) == value), value
    assert redactor.all_clean_values(["a", {"b": ["c"]}, 5]) is True
    assert redactor.all_clean_values(["a", {"b": ["c", token]}]) is False


def test_each_shape_found_in_a_sample_is_found_in_it_joined_with_other_texts() -> None:
    """``Redactor.all_clean`` searches opsroom's shapes once over texts joined with newlines
    (``ShapeFilter(joinable=…)``): whatever a shape finds in one text, it finds there too."""
    neighbours = ("", "x", "run #3", "key", "=", '"', "-", "_", "password", "://u:", "@", "?", "&", "\n", "end\n")
    shapes = ShapeFilter(PATTERNS, joinable=PATTERNS)
    for sample in SAMPLES:
        for text in (sample, *sample.split("\n")):
            for pattern in PATTERNS:
                if pattern.search(text) is None:
                    continue
                for before in neighbours:
                    for after in neighbours:
                        assert pattern.search(f"{before}\n{text}\n{after}"), (pattern.pattern, before, text, after)
                        assert shapes.might_match(f"{before}\n{text}\n{after}", joined=True)


def test_a_configured_pattern_is_assumed_to_match_a_joined_text_holding_its_piece() -> None:
    anchored = re.compile(r"^internal-\w{8}$")
    shapes = ShapeFilter((anchored,), joinable=())
    assert shapes.might_match("internal-abcd1234") and not shapes.might_match("run #1\ninternal-abcd1234")
    assert shapes.might_match("run #1\ninternal-abcd1234", joined=True)
    assert not shapes.might_match("run #1\nall good", joined=True)


class _AlwaysScanning(StreamRedactor):
    """``StreamRedactor`` as it was before its fast path: every piece scanned for a block."""

    def _redact_open(self, text: str) -> tuple[str, int]:
        begins = list(BLOCK_BEGIN.finditer(text))
        last_begin = begins[-1] if begins else None
        if last_begin is not None and BLOCK_END.search(text, last_begin.end()) is None:
            head, tail = text[: last_begin.start()], text[last_begin.start() :]
            self._held, self._held_chars = [tail], len(tail)
            return self._redact(head) if head else ("", 0)
        return self._redact(text)


def test_stream_redactor_skips_the_block_scan_only_where_no_block_can_begin() -> None:
    """Output without ``-----BEGIN `` is redacted at once; every other piece as before: the
    same text shown, the same count, the same block held back, chunk by chunk."""
    rng = random.Random(7)
    words = [
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        "-----END PGP PRIVATE KEY BLOCK-----",
        "-----BEGIN",
        " PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "MIIEvQIBADANBg",
        "token=abcd1234",
        "ghp_" + "a" * 36,
        "pong",
        "\n",
        "ok ",
    ]
    redactor = Redactor(secret_values=["hunter2"])
    for _ in range(400):
        fast, slow = redactor.stream(), _AlwaysScanning(redactor.redact)
        for _ in range(rng.randrange(1, 6)):
            chunk = "".join(rng.choice(words + ["hunter2"]) for _ in range(rng.randrange(1, 6)))
            assert fast.feed(chunk) == slow.feed(chunk), chunk
            assert fast._held == slow._held
        assert fast.finish() == slow.finish()
