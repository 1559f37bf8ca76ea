"""The knowledge base as the rest of opsroom sees it: articles loaded from the configured
folders, indexed, and searched with the configured threshold applied."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from opsroom.config.desk import KbConfig
from opsroom.core import ConfigError
from opsroom.desk.articles import Article, load_articles
from opsroom.desk.search import Hit, KbSearcher, build_searcher

log = structlog.get_logger(__name__)


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


class LiveKnowledgeBase:
    """The KB the desk answers from, re-read when its files change (an edit, `git pull`,
    `opsroom reload`): each question costs one stat() per file. A broken edit keeps the last
    good index and is logged with its file and line, so a typo never takes the desk down."""

    def __init__(self, config: KbConfig, base_dir: Path) -> None:
        self._config, self._base_dir = config, base_dir
        self._stamp = self._files_stamp()
        self._kb = KnowledgeBase.load(config, base_dir)

    def _files_stamp(self) -> tuple[tuple[str, int, int], ...]:
        stamp = []
        for folder in kb_folders(self._config, self._base_dir):
            for path in sorted(folder.rglob("*.md")) if folder.is_dir() else ():
                info = path.stat()
                stamp.append((str(path), info.st_mtime_ns, info.st_size))
        return tuple(stamp)

    def __call__(self) -> KnowledgeBase:
        stamp = self._files_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._kb = KnowledgeBase.load(self._config, self._base_dir)
            except ConfigError as err:
                log.warning("kb.reload_failed", error=str(err))
        return self._kb
