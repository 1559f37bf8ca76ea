"""The terminal as a chat platform: ``opsroom shell``. Same engine, same policy, same audit;
handy for trying commands and developing plugins, and scriptable (one message per line on
standard input).

Two ways to show a run, since a terminal cannot edit what it printed before: scripted (not
a TTY) every edit is a new block marked ↻, so the output reads like a log; live (a person at
a TTY) a running run is one block redrawn in place (rich Live) and replaced by its result."""

from __future__ import annotations

import itertools
import re
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from opsroom.chat.base import Capabilities, InboundHandler
from opsroom.core import Actions, Code, Context, Fields, Message, MessageRef, Place, Section

_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")


def markup(text: str) -> str:
    """The Markdown subset of Message text as terminal styling: *bold*, `code`."""
    text = escape(text)
    text = _BOLD.sub(r"[bold]\1[/bold]", text)
    return _CODE.sub(r"[cyan]\1[/cyan]", text)


def _row(line: str) -> Text:
    """A line of the live block: cut to the terminal's width (…), never wrapped, so every
    redraw has the height the last one had."""
    text = Text.from_markup(line, overflow="ellipsis")
    text.no_wrap = True
    return text


TONE_STYLE = {"success": "green", "failure": "red", "warning": "yellow", "denied": "red", "running": "cyan", "info": ""}


class TerminalAdapter:
    name = "shell"
    capabilities = Capabilities(threads=False, buttons=False, edits=True, ephemeral=False)

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None, live: bool = False) -> None:
        self.console = Console(file=out, highlight=False, soft_wrap=True, no_color=color is False, force_terminal=color)
        self._ids = itertools.count(1)
        self.handler: InboundHandler | None = None
        self.live = live
        self._running: dict[str, Message] = {}  # live mode: the blocks being redrawn, by message id
        self._display: Live | None = None

    async def start(self, handler: InboundHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        self._running.clear()
        self._redraw()

    async def send(self, place: Place, message: Message) -> MessageRef:
        ref = MessageRef(place, str(next(self._ids)))
        if self.live and message.tone == "running":
            self._running[ref.message_id] = message
            self._redraw()
        else:
            self._print(message, "")
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        if ref.message_id not in self._running:
            self._print(message, "↻ ")
        elif message.tone == "running":
            self._running[ref.message_id] = message
            self._redraw()
        else:  # the result takes the live block's place, printed once, for good
            del self._running[ref.message_id]
            self._redraw()
            self._print(message, "")

    def _redraw(self) -> None:
        if not self._running:
            if self._display is not None:
                self._display.stop()  # transient: the live block is erased, the result stays
                self._display = None
            return
        shown = Group(*(_row(line) for m in self._running.values() for line in self._lines(m, "")))
        if self._display is None:
            self._display = Live(shown, console=self.console, transient=True, auto_refresh=False)
            self._display.start(refresh=True)
        else:
            self._display.update(shown, refresh=True)

    def _print(self, message: Message, marker: str) -> None:
        for line in self._lines(message, marker):
            self.console.print(line)

    def _lines(self, message: Message, marker: str) -> list[str]:
        """The message as console markup, one entry per printed block (a section may hold newlines)."""
        style = TONE_STYLE.get(message.tone, "")
        lines: list[str] = []
        first = True
        for block in message.blocks or (Section(message.text),):
            prefix = marker if first else ""
            first = False
            if isinstance(block, Section):
                text = markup(prefix + block.text)
                lines.append(f"[{style}]{text}[/]" if style else text)
            elif isinstance(block, Fields):
                lines.extend(f"  [bold]{escape(key)}[/]: {escape(value)}" for key, value in block.items)
            elif isinstance(block, Code):
                lines.extend("  │ " + escape(line) for line in block.text.split("\n"))
            elif isinstance(block, Context):
                lines.append(f"[dim]  {escape(block.text)}[/]")
            elif isinstance(block, Actions):
                hints = [b.fallback for b in block.buttons if b.fallback]
                if hints:
                    lines.append("[dim]  → " + escape(" · ".join(hints)) + "[/]")
        return lines
