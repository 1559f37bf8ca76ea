"""Whether a text can hold a credential shape at all, answered fast and never wrongly "no".

Almost every text opsroom stores or posts (audit rows, chat messages, run rows) holds no
credential. Running ~40 regular expressions over each is slow, and one alternation of all
of them is slower still in Python's ``re`` (it cannot skip ahead on any of them). But most
shapes contain a fixed piece of text: ``ghp_``, ``-----BEGIN``, ``xox``, ``token`` (one of a
few words for a keyed secret). A match must contain that piece, so a text without it cannot
match, and ``str``'s substring search (C speed) says so without the regex.

The pieces are read from each compiled pattern's own parse (``re._parser``), not written by
hand: a literal in the top-level sequence of a pattern is in every match; a top-level
alternation gives "one of" the pieces of its branches; what a positive lookahead or
lookbehind looks for is in the text as well. Only a piece of two or more
characters is used; a pattern with none is always searched. Case-insensitive patterns are
checked against the text lowered, after mapping the four non-ASCII letters that Python's
``re`` matches to ASCII ones under IGNORECASE (``İ ı ſ K``; tests check there are no others).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# Non-ASCII characters that ``(?i)`` matches with an ASCII letter, and that letter.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_FOLD_LETTERS = tuple(map(chr, _FOLD))
_MIN_PIECE = 2


def required_pieces(pattern: re.Pattern[str]) -> tuple[tuple[str, ...], bool] | None:
    """(pieces, case-insensitive): every match of ``pattern`` contains one of ``pieces``.
    None when no such piece is found (then the pattern is always searched)."""
    try:
        parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    except Exception:
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    best = _best(_candidates(list(parsed.data)))
    if best is None:
        return None
    return (tuple(p.lower() for p in best) if ignore_case else best), ignore_case


def _best(candidates: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The candidate whose shortest piece is longest (the most selective), if any has only
    pieces of ``_MIN_PIECE`` characters or more."""
    best: tuple[str, ...] | None = None
    for candidate in candidates:
        if min(map(len, candidate)) < _MIN_PIECE:
            continue
        if best is None or min(map(len, candidate)) > min(map(len, best)):
            best = candidate
    return best


def _candidates(items: list[tuple[Any, Any]]) -> list[tuple[str, ...]]:
    """Pieces each match of the sequence ``items`` must contain: runs of consecutive
    literals (a one-piece candidate), and alternations (one of the pieces some candidate of
    each branch gives: a match goes through one branch)."""
    out: list[tuple[str, ...]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            out.append(("".join(run),))
            run.clear()

    for op, av in _inline(items):
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        close()
        if op is sre.ASSERT:  # a positive lookaround: what it looks for is in the text too
            out.extend(_candidates(list(av[1].data)))
        elif op is sre.BRANCH:
            each = [_best(_candidates(list(branch.data))) for branch in av[1]]
            if all(each):
                out.append(tuple(piece for pieces in each if pieces for piece in pieces))
    close()
    return out


def _inline(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Plain groups (no flags of their own) opened into the sequence around them."""
    flat: list[tuple[Any, Any]] = []
    for op, av in items:
        if op is sre.SUBPATTERN and not av[1] and not av[2]:
            flat.extend(_inline(list(av[3].data)))
        else:
            flat.append((op, av))
    return flat


class ShapeFilter:
    """``might_match(text)``: False only when no pattern can match ``text``."""

    def __init__(self, patterns: tuple[re.Pattern[str], ...], joinable: Iterable[re.Pattern[str]] = ()) -> None:
        # Patterns whose search over texts joined with "\n" finds whatever it finds in one
        # of them (every assertion sees a newline at a text's edge as it sees the edge):
        # opsroom's own shapes, checked by tests; a configured pattern is not assumed to be.
        joinable = frozenset(joinable)
        self._always: list[re.Pattern[str]] = []
        # (pattern, its pieces, case-insensitive, joinable)
        self._checks: list[tuple[re.Pattern[str], tuple[str, ...], bool, bool]] = []
        for pattern in patterns:
            pieces = required_pieces(pattern)
            if pieces is None:
                self._always.append(pattern)
            else:
                self._checks.append((pattern, *pieces, pattern in joinable))
        # Every piece in a few scans (a literal alternation is one fast C search): a text
        # with no piece at all, nearly every text, is done after three searches. The pieces
        # looked for as written are split by how they begin: ``re`` skips, at C speed, every
        # position whose character no piece begins with, and in a text of words nearly every
        # position begins some ``gh``, ``sk-``, ``test``; kept apart, those that begin with
        # an upper-case letter, a digit or a mark (``AKIA``, ``-----BEGIN``) are skipped
        # over (≈ 35 % less time than one scan of them all, on chat and audit texts).
        cased = [p for _, w, ci, _ in self._checks if not ci for p in w]
        self._any_piece_lower_first = _literal_alternation(p for p in cased if p[0].islower())
        self._any_piece_other_first = _literal_alternation(p for p in cased if not p[0].islower())
        self._any_piece_lowered = _literal_alternation(p for _, w, ci, _ in self._checks if ci for p in w)

    @property
    def pieces_only(self) -> bool:
        """True when every pattern has a fixed piece: then ``might_match(joined, joined=True)``
        is True whenever ``might_match`` of one of the joined texts is (a piece found in the
        part is in the whole; a pattern without pieces may be anchored and is not)."""
        return not self._always

    def might_match(self, text: str, *, joined: bool = False) -> bool:
        """``joined``: ``text`` is several texts joined with newlines, and True is wanted
        whenever a pattern might match one of them. A ``joinable`` pattern's search over the
        whole finds what it finds in a part; any other pattern (a configured one may be
        anchored: ``^key-\\w+`` matches a text alone, not after another) is taken to match
        whenever one of its pieces is there (a piece in a part is in the whole)."""
        lowered = text.lower() if text.isascii() else _fold_lower(text)
        if (
            (self._any_piece_lower_first is None or self._any_piece_lower_first.search(text) is None)
            and (self._any_piece_other_first is None or self._any_piece_other_first.search(text) is None)
            and (self._any_piece_lowered is None or self._any_piece_lowered.search(lowered) is None)
        ):
            return bool(self._always) and any(pattern.search(text) is not None for pattern in self._always)
        for pattern, wanted, ignore_case, joinable in self._checks:
            hay = lowered if ignore_case else text
            for piece in wanted:
                if piece in hay:
                    break
            else:
                continue  # none of its pieces: this shape cannot be here
            if (joined and not joinable) or pattern.search(text) is not None:
                return True
        return any(pattern.search(text) is not None for pattern in self._always)


def _fold_lower(text: str) -> str:
    """``text.translate(_FOLD).lower()``; the translation (a dict look-up per character, slow
    on a long text) only when one of its four letters is there at all (a C substring search
    each), which they almost never are."""
    for letter in _FOLD_LETTERS:
        if letter in text:
            return text.translate(_FOLD).lower()
    return text.lower()


def _literal_alternation(pieces: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern found in a text exactly when one of ``pieces`` is, written as a trie
    (``g(?:h|ithub_pat_|l)`` rather than ``github_pat_|gh|gl``): ``re`` tries an alternation's
    branches one by one at every position, and a trie has far fewer to try (≈40 % faster
    here). A piece that starts with another adds nothing (the shorter one is there too)."""
    trie: dict[str, Any] = {}
    for piece in sorted(set(pieces), key=len):
        node = trie
        for ch in piece:
            if node.get("") is True:  # a shorter piece ends here: this one is covered
                break
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = True
    return re.compile(_trie_pattern(trie)) if trie else None


def _trie_pattern(node: dict[str, Any]) -> str:
    if node.get("") is True:
        return ""
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
