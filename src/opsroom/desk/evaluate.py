"""``opsroom kb eval``: how well search finds the right article for a team's own questions.

The file is YAML: ``questions: [{q: "…", article: <id or null>}]``. hit@1 and hit@3 count the
questions whose article is first / in the top three; MRR is the mean of 1/rank (0 when not in
the top three). A question with ``article: null`` has no answer in the KB: it counts as right
when the desk would offer a ticket (no hit at or above the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from opsroom.core import ConfigError
from opsroom.desk.search import KbSearcher


@dataclass
class Outcome:
    question: str
    wanted: str | None
    got: list[str]
    top_confidence: float
    rank: int | None  # 1-based; None when not in the top three


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    no_answer_right: int = 0
    no_answer_total: int = 0

    @property
    def answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.wanted is not None]

    def hit(self, k: int) -> int:
        return sum(1 for o in self.answerable if o.rank is not None and o.rank <= k)

    @property
    def mrr(self) -> float:
        scored = self.answerable
        return sum(1 / o.rank for o in scored if o.rank) / len(scored) if scored else 0.0


def load_questions(path: Path) -> list[tuple[str, str | None]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected 'questions:' with a list of {{q: …, article: …}}")
    out: list[tuple[str, str | None]] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), str) or "article" not in item:
            raise ConfigError(f"{path}: question {n} needs 'q' (text) and 'article' (an id or null)")
        article = item["article"]
        out.append((item["q"], None if article is None else str(article)))
    return out


def evaluate(
    searcher: KbSearcher, questions: list[tuple[str, str | None]], threshold: float, known: set[str]
) -> Report:
    unknown = sorted({a for _, a in questions if a is not None and a not in known})
    if unknown:
        raise ConfigError(f"questions name articles the KB does not have: {', '.join(unknown)}")
    report = Report()
    for question, wanted in questions:
        hits = searcher.search(question, limit=3)
        got = [h.article.id for h in hits]
        top = hits[0].confidence if hits else 0.0
        rank = got.index(wanted) + 1 if wanted in got else None
        report.outcomes.append(Outcome(question, wanted, got, top, rank))
        if wanted is None:
            report.no_answer_total += 1
            report.no_answer_right += top < threshold
    return report
