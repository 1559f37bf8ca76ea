"""``opsroom kb``: ask the knowledge base from the terminal, check it, and measure it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsroom.cli.common import ConfigOpt, lazy_console

kb_app = typer.Typer(help="The service desk's knowledge base: search it, check it, measure it.", no_args_is_help=True)
out = lazy_console(soft_wrap=True)
err = lazy_console(stderr=True, soft_wrap=True)

SearchOpt = Annotated[str | None, typer.Option("--search", help="fts5 or semantic (default: the config's).")]


def _kb(config: Path | None, search: str | None):  # type: ignore[no-untyped-def]
    from opsroom.config.loader import content_dir, load_or_demo
    from opsroom.core import ConfigError
    from opsroom.desk.kb import KnowledgeBase

    try:
        loaded = load_or_demo(config)
        kb_config = loaded.config.kb
        if search is not None:
            if search not in ("fts5", "semantic"):
                raise ConfigError(f"--search must be fts5 or semantic, not {search!r}")
            kb_config = kb_config.model_copy(update={"search": search})
        if not kb_config.paths:
            raise ConfigError("no knowledge base configured: add `kb: {paths: [kb]}` to opsroom.yaml")
        return KnowledgeBase.load(kb_config, content_dir(loaded))
    except ConfigError as exc:
        err.print(f"[red]Knowledge base error[/]\n{exc}")
        raise typer.Exit(2) from None


@kb_app.command("search")
def search_cmd(
    question: Annotated[str, typer.Argument(help="A question, as someone would ask it.")],
    config: ConfigOpt = None,
    search: SearchOpt = None,
) -> None:
    """Show the articles the desk would suggest for a question."""
    kb = _kb(config, search)
    hits = kb.answer(question)
    if not hits:
        out.print("No article fits; the desk would offer to open a ticket.")
        raise typer.Exit(1)
    for n, hit in enumerate(hits, 1):
        where = f"{hit.article.path.name}:{hit.section.line}"
        heading = f" › {hit.section.heading}" if hit.section.anchor else ""
        out.print(f"{n}. [bold]{hit.article.title}[/]{heading}  ({hit.confidence:.2f}, {where})")


@kb_app.command("check")
def check_cmd(config: ConfigOpt = None) -> None:
    """Load every article and say what is wrong with any of them (file and line)."""
    kb = _kb(config, None)
    sections = sum(len(a.sections) for a in kb.articles)
    out.print(f"✓ {len(kb.articles)} articles, {sections} sections — all valid")


@kb_app.command("eval")
def eval_cmd(
    questions: Annotated[
        Path, typer.Argument(help="YAML: questions: [{q: …, article: <id or null>}]", exists=True, dir_okay=False)
    ],
    config: ConfigOpt = None,
    search: SearchOpt = None,
    show: Annotated[bool, typer.Option("--show", help="List every question and what was found.")] = False,
) -> None:
    """Measure search on your own labelled questions: hit@1, hit@3 and MRR."""
    from opsroom.core import ConfigError
    from opsroom.desk.evaluate import evaluate, load_questions

    kb = _kb(config, search)
    try:
        report = evaluate(kb.searcher, load_questions(questions), kb.min_confidence, {a.id for a in kb.articles})
    except ConfigError as exc:
        err.print(f"[red]Questions error[/]\n{exc}")
        raise typer.Exit(2) from None
    if show:
        from rich.table import Table

        table = Table("rank", "conf", "wanted", "found", "question")
        for o in report.outcomes:
            table.add_row(
                str(o.rank or "–"), f"{o.top_confidence:.2f}", o.wanted or "(none)", ", ".join(o.got), o.question
            )
        out.print(table)
    n = len(report.answerable)
    out.print(f"search: {kb.searcher.kind}  questions: {n} with an article, {report.no_answer_total} without")
    out.print(f"hit@1 {report.hit(1)}/{n}  hit@3 {report.hit(3)}/{n}  MRR {report.mrr:.3f}")
    if report.no_answer_total:
        out.print(
            f"no-answer questions sent to a ticket: {report.no_answer_right}/{report.no_answer_total} "
            f"(threshold {kb.min_confidence:.2f})"
        )
