"""Finding the article that answers a question, behind one small interface.

``fts5`` (the default) is SQLite's full-text index with BM25 ranking: in the standard library,
exact on key words, weaker on paraphrases. ``semantic`` (``pip install "opsroom[kb-semantic]"``)
embeds sections with WordLlama, whose weights ship inside its wheel, so it works offline; it
finds "my k8s app keeps restarting" under "CrashLoopBackOff". Both answer with the best
section of each of the top articles and a confidence in [0, 1] that the desk compares with its
threshold to decide between "here is what I found" and "no article fits; open a ticket?".

The index is in memory (the KB is files, not rows) and rebuilt on start and reload, whatever
the main database is.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from opsroom.core import ConfigError
from opsroom.desk.articles import Article, Section

SearchKind = Literal["fts5", "semantic"]

# Words that carry no meaning for matching; without this, "how do I …" matches every article.
_STOP = frozenset(
    """a an and are as at be but by can could do does for from get got go had has have
how i i'm if in into is it its just keep keeps me my no not of on or our out please so some that the
their them then there this to up us was we what when where which who why will with won't would you
your can't don't cannot help need want hi hello thanks""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    article: Article
    section: Section
    confidence: float  # 0..1: share of the question's words found (fts5), cosine (semantic)


class KbSearcher(Protocol):
    kind: SearchKind

    def index(self, articles: Sequence[Article]) -> None: ...

    def search(self, question: str, limit: int = 3) -> list[Hit]: ...


def terms(text: str) -> list[str]:
    """The question's meaningful words, normalized (NFKC, lower case), deduplicated in order."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
    return list(dict.fromkeys(w for w in words if w not in _STOP and len(w) > 1))[:32]


class Fts5Searcher:
    """SQLite FTS5 over sections; the title and tags weigh more than the body."""

    kind: SearchKind = "fts5"

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE kb USING fts5(article UNINDEXED, section UNINDEXED, "
            "title, heading, tags, text, tokenize='porter unicode61 remove_diacritics 2')"
        )
        self._articles: dict[str, Article] = {}

    def index(self, articles: Sequence[Article]) -> None:
        self._db.execute("DELETE FROM kb")
        self._articles = {a.id: a for a in articles}
        self._db.executemany(
            "INSERT INTO kb VALUES (?, ?, ?, ?, ?, ?)",
            [
                (a.id, n, a.title, s.heading if n else "", " ".join(a.tags), s.text)
                for a in articles
                for n, s in enumerate(a.sections)
            ],
        )

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        words = terms(question)
        if not words:
            return []
        # Each word is a quoted FTS5 string, so nothing typed can become query syntax.
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = self._db.execute(
            "SELECT article, section FROM kb WHERE kb MATCH ? ORDER BY bm25(kb, 0, 0, 3.0, 1.5, 2.0, 1.0) LIMIT 50",
            (match,),
        ).fetchall()
        best: dict[str, int] = {}
        for article_id, section in rows:
            best.setdefault(article_id, section)
            if len(best) == limit:
                break
        if not best:
            return []
        found = self._articles_matching(words, list(best))
        return [
            Hit(self._articles[a], self._articles[a].sections[s], len(found[a]) / len(words)) for a, s in best.items()
        ]

    def _articles_matching(self, words: list[str], candidates: list[str]) -> dict[str, set[str]]:
        """Which of the question's words each candidate article contains (its confidence)."""
        found: dict[str, set[str]] = {a: set() for a in candidates}
        marks = ",".join("?" * len(candidates))
        for word in words:
            quoted = '"' + word.replace('"', '""') + '"'
            for (article_id,) in self._db.execute(
                f"SELECT DISTINCT article FROM kb WHERE kb MATCH ? AND article IN ({marks})",  # noqa: S608
                (quoted, *candidates),
            ):
                found[article_id].add(word)
        return found


class SemanticSearcher:
    """WordLlama static embeddings (256 dimensions), cosine similarity per section."""

    kind: SearchKind = "semantic"

    def __init__(self) -> None:
        try:
            import wordllama
        except ImportError:
            raise ConfigError('kb.search: semantic needs the extra: pip install "opsroom[kb-semantic]"') from None
        # The wheel ships its tokenizer under tokenizers/ while the loader looks elsewhere and
        # would try to download it; pointing the cache at the package keeps it offline.
        package = Path(wordllama.__file__).parent
        self._model: Any = wordllama.WordLlama.load(cache_dir=package, disable_download=True)
        self._sections: list[tuple[Article, Section]] = []
        self._vectors: Any = None

    def index(self, articles: Sequence[Article]) -> None:
        self._sections = [(a, s) for a in articles for s in a.sections]
        texts = [f"{a.title}. {s.heading if s.anchor else ''}. {' '.join(a.tags)}. {s.text}" for a, s in self._sections]
        self._vectors = self._model.embed(texts, norm=True) if texts else None

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        if self._vectors is None or not question.strip():
            return []
        query = self._model.embed([question], norm=True)[0]
        scores = self._vectors @ query
        hits: list[Hit] = []
        seen: set[str] = set()
        for i in scores.argsort()[::-1]:
            article, section = self._sections[int(i)]
            if article.id in seen:
                continue
            seen.add(article.id)
            hits.append(Hit(article, section, max(0.0, min(1.0, float(scores[int(i)])))))
            if len(hits) == limit:
                break
        return hits


def build_searcher(kind: SearchKind) -> KbSearcher:
    return SemanticSearcher() if kind == "semantic" else Fts5Searcher()
