"""``kb:`` in opsroom.yaml: where the knowledge base lives and how it is searched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from opsroom.config.base import Section

# Measured on the demo KB's labelled questions (src/opsroom/demo/kb-questions.yaml; docs/desk.md):
# below these, the desk says "no article fits" and offers a ticket instead of guessing.
DEFAULT_THRESHOLD = {"fts5": 0.3, "semantic": 0.2}


class KbConfig(Section):
    paths: list[str] = Field([], description="Folders of Markdown articles (kb/*.md), relative to this file.")
    search: Literal["fts5", "semantic"] = Field(
        "fts5",
        description="fts5: SQLite full text, no extra dependency; semantic: WordLlama "
        "embeddings (pip install 'opsroom[kb-semantic]'), better on paraphrased questions.",
    )
    threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Confidence below which no article is suggested (default: 0.3 for "
        "fts5 — the share of the question's words an article contains; 0.2 for semantic — cosine).",
    )

    @property
    def min_confidence(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[self.search]


class AiConfig(Section):
    """``desk.ai``: plain English through any OpenAI-compatible endpoint. Off by default. The
    model may only search the KB and propose a command this person may run; a proposal runs
    only when they click Run, through the normal parser, policy and guardrails."""

    enabled: bool = False
    base_url: str = Field(
        "",
        description="OpenAI-compatible API base, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, "
        "llama.cpp server, a LiteLLM proxy) or a provider's.",
    )
    model: str = ""
    api_key_env: str = Field("OPSROOM_AI_API_KEY", description="Environment variable holding the API key.")
    timeout_s: float = Field(20.0, gt=0, le=300)
    max_tokens: int = Field(512, ge=16, le=8192, description="Per answer.")
    max_rounds: int = Field(3, ge=1, le=8, description="Model turns per question (each tool call is one).")
    daily_tokens_per_user: int = Field(
        20000,
        ge=0,
        description="Prompt + completion tokens a person may use a "
        "day (UTC); past it the desk answers from the KB alone.",
    )
    channels: list[str] = Field(
        [], description="Channels where plain English may be used (empty: everywhere the desk answers)."
    )
    roles: list[str] = Field([], description="Roles that may use it (empty: everyone who may ask).")
    auto_run_read_only: bool = Field(False, description="Run a proposed read-only command at once (never a write).")

    @model_validator(mode="after")
    def _complete(self) -> AiConfig:
        if self.enabled and not (self.base_url and self.model):
            raise ValueError("desk.ai: enabled needs base_url and model")
        return self


class DeskConfig(Section):
    """``desk:``: where people ask for help in their own words."""

    channels: list[str] = Field(
        [],
        description="Channels (by name, e.g. '#help') where every message that is not a command is a question "
        "for the desk.",
    )
    direct_messages: bool = Field(
        True, description="In a DM with the bot, a message that is not a command is a question for the desk."
    )
    ticket_provider: str | None = Field(
        None, description="Ticket system for questions the KB does not answer (default: tickets.default)."
    )
    article_url: str = Field(
        "",
        description="Link to an article, with {id} and {anchor} "
        "(e.g. 'https://wiki.example.com/kb/{id}#{anchor}'); empty: answers name the article's file and section.",
    )
    ai: AiConfig = AiConfig()
