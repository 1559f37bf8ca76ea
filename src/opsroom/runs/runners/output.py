"""Turning a byte stream into chat-sized lines, with a cap on the total.

Convention for every built-in runner: one ``OutputChunk`` holds one line of output without its
trailing newline (a Python runner may yield several lines in one chunk); the reporter joins
chunks with newlines.
"""

from __future__ import annotations

import codecs

#: A line longer than this is emitted in pieces, so one endless line cannot exhaust memory.
MAX_LINE_BYTES = 64 * 1024


class LineSplitter:
    """Feeds bytes in, gets complete decoded lines out. Invalid UTF-8 becomes U+FFFD."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines: list[str] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            raw, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
            lines.append(self._decode(raw))
        while len(self._buffer) >= MAX_LINE_BYTES:
            raw, self._buffer = self._buffer[:MAX_LINE_BYTES], self._buffer[MAX_LINE_BYTES:]
            lines.append(self._decoder.decode(raw))
        return lines

    def finish(self) -> list[str]:
        """The last line if the stream did not end with a newline."""
        rest, self._buffer = self._buffer, b""
        text = self._decoder.decode(rest, final=True)
        return [text.removesuffix("\r")] if text else []

    def _decode(self, raw: bytes) -> str:
        text = self._decoder.decode(raw + b"\n")
        return text[:-1].removesuffix("\r")


class ByteBudget:
    """Counts output bytes against ``limit``; everything past it is dropped and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0

    def take(self, data: bytes) -> bytes:
        """The part of ``data`` that still fits."""
        room = max(self.limit - self.used, 0)
        kept = data[:room]
        self.used += len(kept)
        self.dropped += len(data) - len(kept)
        return kept

    def dropped_line(self) -> str:
        return f"[output truncated: {self.dropped:,} bytes dropped after the first {self.limit:,} bytes]"


def excerpt(text: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` and how many were left out."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit
