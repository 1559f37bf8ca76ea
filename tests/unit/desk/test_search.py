"""Search finds the right article for questions people actually type, says when nothing fits,
and never lets typed text become query syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsroom.config.desk import KbConfig
from opsroom.config.loader import DEMO_CONFIG
from opsroom.desk.articles import load_articles
from opsroom.desk.evaluate import evaluate, load_questions
from opsroom.desk.kb import KnowledgeBase
from opsroom.desk.search import Fts5Searcher, SemanticSearcher, build_searcher

QUESTIONS = DEMO_CONFIG.parent / "kb-questions.yaml"
ARTICLES = load_articles([DEMO_CONFIG.parent / "kb"])

# Floors measured on the demo KB's 22 answerable questions (docs/desk.md has the table):
# fts5 19/22 first and 21/22 in the top three, semantic 21/22 and 22/22. A change that makes
# search worse than this fails here.
FLOORS = {"fts5": (18, 21, 0.85), "semantic": (20, 22, 0.93)}


@pytest.fixture(scope="module", params=["fts5", "semantic"])
def searcher(request: pytest.FixtureRequest) -> Fts5Searcher | SemanticSearcher:
    if request.param == "semantic":
        pytest.importorskip("wordllama", reason="the kb-semantic extra is part of the test extra")
    built = build_searcher(request.param)
    built.index(ARTICLES)
    return built  # type: ignore[return-value]


def test_labelled_questions_find_their_article(searcher: Fts5Searcher | SemanticSearcher) -> None:
    report = evaluate(
        searcher, load_questions(QUESTIONS), KbConfig(search=searcher.kind).min_confidence, {a.id for a in ARTICLES}
    )
    hit1, hit3, mrr = FLOORS[searcher.kind]
    assert report.hit(1) >= hit1 and report.hit(3) >= hit3 and report.mrr >= mrr, [
        (o.question, o.wanted, o.got) for o in report.outcomes if o.rank != 1
    ]


def test_an_answer_quotes_the_section_that_fits(searcher: Fts5Searcher | SemanticSearcher) -> None:
    (top, *_) = searcher.search("my account is locked after too many wrong passwords")
    assert top.article.id == "password-reset"
    assert top.section.heading == "My account is locked"


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        '""',
        "NEAR(vpn password, 2)",
        "vpn*",
        "title:vpn",
        "-vpn",
        "^vpn",
        "vpn OR",
        "AND AND",
        "'; DROP TABLE kb; --",
        "{vpn}",
        "vpn\x00password",
        "🔐 vpn 🔐",
        "ＶＰＮ",
        "a" * 5000,
        "   ",
        "",
    ],
)
def test_typed_text_is_never_query_syntax(searcher: Fts5Searcher | SemanticSearcher, hostile: str) -> None:
    hits = searcher.search(hostile)
    assert all(h.article.id for h in hits)
    assert searcher.search("connect to the vpn")[0].article.id == "vpn-connect"  # index intact


def test_fullwidth_and_accented_text_still_matches() -> None:
    fts = Fts5Searcher()
    fts.index(ARTICLES)
    assert fts.search("ＶＰＮ")[0].article.id == "vpn-connect"  # NFKC folds full-width letters
    assert fts.search("pässword")[0].article.id == "password-reset"  # diacritics removed


def test_below_the_threshold_the_desk_offers_a_ticket_instead() -> None:
    kb = KnowledgeBase.load(KbConfig(paths=["kb"]), DEMO_CONFIG.parent)
    assert kb.answer("what is on the canteen menu for friday") == []
    assert kb.answer("I forgot my password")[0].article.id == "password-reset"
    strict = KnowledgeBase.load(KbConfig(paths=["kb"], threshold=1.0), DEMO_CONFIG.parent)
    assert strict.answer("internal websites don't load at the hotel") == []


def test_reindexing_replaces_the_old_articles(tmp_path: Path) -> None:
    fts = Fts5Searcher()
    fts.index(ARTICLES)
    (tmp_path / "only.md").write_text("---\nid: printer\ntitle: Fix the printer\n---\nPaper jam.\n")
    fts.index(load_articles([tmp_path]))
    assert [h.article.id for h in fts.search("vpn printer paper")] == ["printer"]


def test_semantic_search_without_the_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from opsroom.core import ConfigError

    real_import = builtins.__import__

    def no_wordllama(name: str, *args: object, **kwargs: object) -> object:
        if name == "wordllama":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_wordllama)
    with pytest.raises(ConfigError, match=r"opsroom\[kb-semantic\]"):
        SemanticSearcher()
