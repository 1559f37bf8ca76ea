"""The terminal as a chat platform: ``opsroom shell``. Same engine, same policy, same audit;
handy for trying commands and developing plugins, and scriptable (one message per line on
standard input)."""

from __future__ import annotations

import itertools
import re
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.core import Actions, Code, Context, Fields, Message, MessageRef, Place, Section

_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")


def markup(text: str) -> str:
    """The Markdown subset of Message text as terminal styling: *bold*, `code`."""
    text = escape(text)
    text = _BOLD.sub(r"[bold]\1[/bold]", text)
    return _CODE.sub(r"[cyan]\1[/cyan]", text)


TONE_STYLE = {"success": "green", "failure": "red", "warning": "yellow", "denied": "red", "running": "cyan", "info": ""}


class TerminalAdapter:
    name = "shell"
    # Edits are shown as a new block marked ↻, so the terminal reads like a log of the run.
    capabilities = Capabilities(threads=False, buttons=False, edits=True, ephemeral=False)

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self.console = Console(file=out, highlight=False, soft_wrap=True, no_color=color is False, force_terminal=color)
        self._ids = itertools.count(1)
        self.handler: InboundHandler | None = None

    async def start(self, handler: InboundHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        return None

    async def send(self, place: Place, message: Message) -> MessageRef:
        ref = MessageRef(place, str(next(self._ids)))
        self._print(message, "")
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._print(message, "↻ ")

    def _print(self, message: Message, marker: str) -> None:
        style = TONE_STYLE.get(message.tone, "")
        first = True
        for block in message.blocks or (Section(message.text),):
            prefix = marker if first else ""
            first = False
            if isinstance(block, Section):
                text = markup(prefix + block.text)
                self.console.print(f"[{style}]{text}[/]" if style else text)
            elif isinstance(block, Fields):
                for key, value in block.items:
                    self.console.print(f"  [bold]{escape(key)}[/]: {escape(value)}")
            elif isinstance(block, Code):
                for line in block.text.split("\n"):
                    self.console.print("  │ " + escape(line))
            elif isinstance(block, Context):
                self.console.print(f"[dim]  {escape(block.text)}[/]")
            elif isinstance(block, Actions):
                hints = [b.fallback for b in block.buttons if b.fallback]
                if hints:
                    self.console.print("[dim]  → " + escape(" · ".join(hints)) + "[/]")
