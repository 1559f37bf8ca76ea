"""The knowledge base as the rest of opsroom sees it: articles loaded from the configured
folders, indexed, and searched with the configured threshold applied."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opsroom.config.desk import KbConfig
from opsroom.desk.articles import Article, load_articles
from opsroom.desk.search import Hit, KbSearcher, build_searcher


def kb_folders(config: KbConfig, base_dir: Path) -> list[Path]:
    return [(base_dir / p).resolve() if not Path(p).is_absolute() else Path(p) for p in config.paths]


@dataclass
class KnowledgeBase:
    articles: list[Article]
    searcher: KbSearcher
    min_confidence: float

    @classmethod
    def load(cls, config: KbConfig, base_dir: Path) -> KnowledgeBase:
        """Read and index every article; a ConfigError names the file and line of a bad one."""
        articles = load_articles(kb_folders(config, base_dir))
        searcher = build_searcher(config.search)
        searcher.index(articles)
        return cls(articles, searcher, config.min_confidence)

    def get(self, article_id: str) -> Article | None:
        return next((a for a in self.articles if a.id == article_id), None)

    def answer(self, question: str, limit: int = 3) -> list[Hit]:
        """The top articles worth suggesting: empty when none reaches the threshold."""
        hits = self.searcher.search(question, limit=limit)
        if not hits or hits[0].confidence < self.min_confidence:
            return []
        return hits
