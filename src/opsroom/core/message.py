"""A platform-neutral rich message. Each chat adapter renders it its own way
(Slack Block Kit, Teams Adaptive Card, Mattermost attachments, Matrix HTML, web chat HTML,
terminal text); the engine never builds platform payloads itself.

Text uses a small Markdown subset every platform can show: ``*bold*``, ``_italic_``,
`` `code` ``, and ``<url|label>`` links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from opsroom.core.identity import Principal
from opsroom.core.quickinit import quick_init

Tone = Literal["info", "running", "success", "failure", "warning", "denied"]


@quick_init  # every chat message (core/quickinit.py)
@dataclass(frozen=True)
class Section:
    text: str


@dataclass(frozen=True)
class Fields:
    items: tuple[tuple[str, str], ...]


@quick_init  # every chat message (core/quickinit.py)
@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


@quick_init  # every chat message (core/quickinit.py)
@dataclass(frozen=True)
class Context:
    """Small print under a message: durations, run ids, 'demo' labels."""

    text: str


@dataclass(frozen=True)
class Button:
    """``action_id`` is a signed, single-use token minted by the engine; adapters carry it
    back verbatim in an ActionEvent and never interpret it."""

    label: str
    action_id: str
    style: Literal["default", "primary", "danger"] = "default"
    # Text fallback for platforms without buttons, e.g. "/approve 42".
    fallback: str = ""
    url: str = ""  # a link button instead of an action
    # A question to answer before the click counts ("why deny?"); adapters that can ask show
    # a text box and send the answer as ``ActionEvent.value``.
    asks: str = ""


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Union[Section, Fields, Code, Context, Actions]


@quick_init  # every chat message (core/quickinit.py)
@dataclass(frozen=True)
class Message:
    """``text`` is the plain one-line summary used for notifications and as a fallback."""

    text: str
    blocks: tuple[Block, ...] = ()
    tone: Tone = "info"
    mentions: tuple[Principal, ...] = ()
    ephemeral_to: str | None = None  # a platform user id: only they see it, where supported
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @staticmethod
    def plain(text: str, tone: Tone = "info") -> Message:
        return Message(text=text, blocks=(Section(text),), tone=tone)

    def buttons(self) -> tuple[Button, ...]:
        return tuple(b for block in self.blocks if isinstance(block, Actions) for b in block.buttons)

    def as_text(self) -> str:
        """A faithful plain-text rendering (terminal, logs, platforms without rich text)."""
        lines: list[str] = []
        if self.mentions:
            lines.append(" ".join(f"@{p.name}" for p in self.mentions))
        for block in self.blocks or (Section(self.text),):
            if isinstance(block, Section):
                lines.append(block.text)
            elif isinstance(block, Fields):
                lines.extend(f"{k}: {v}" for k, v in block.items)
            elif isinstance(block, Code):
                lines.append("```\n" + block.text + "\n```")
            elif isinstance(block, Context):
                lines.append(block.text)
            elif isinstance(block, Actions):
                lines.append("  ".join(f"[{b.label}{' → ' + b.fallback if b.fallback else ''}]" for b in block.buttons))
        return "\n".join(lines)
