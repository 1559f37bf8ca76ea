"""``kb:`` in opsroom.yaml: where the knowledge base lives and how it is searched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opsroom.config.base import Section

# Measured on the demo KB's labelled questions (src/opsroom/demo/kb-questions.yaml; docs/desk.md):
# below these, the desk says "no article fits" and offers a ticket instead of guessing.
DEFAULT_THRESHOLD = {"fts5": 0.3, "semantic": 0.2}


class KbConfig(Section):
    paths: list[str] = Field([], description="Folders of Markdown articles (kb/*.md), relative to this file.")
    search: Literal["fts5", "semantic"] = Field(
        "fts5", description="fts5: SQLite full text, no extra dependency; semantic: WordLlama "
        "embeddings (pip install 'opsroom[kb-semantic]'), better on paraphrased questions.")
    threshold: float | None = Field(
        None, ge=0, le=1, description="Confidence below which no article is suggested (default: 0.3 for "
        "fts5 — the share of the question's words an article contains; 0.2 for semantic — cosine).")

    @property
    def min_confidence(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[self.search]


class DeskConfig(Section):
    """``desk:``: where people ask for help in their own words."""

    channels: list[str] = Field(
        [], description="Channels (by name, e.g. '#help') where every message that is not a command is a question "
        "for the desk.")
    direct_messages: bool = Field(
        True, description="In a DM with the bot, a message that is not a command is a question for the desk.")
    ticket_provider: str | None = Field(
        None, description="Ticket system for questions the KB does not answer (default: tickets.default).")
    article_url: str = Field(
        "", description="Link to an article, with {id} and {anchor} "
        "(e.g. 'https://wiki.example.com/kb/{id}#{anchor}'); empty: answers name the article's file and section.")
