"""Query results as a plain-text table (chat shows run output in a code block)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(value: Any, max_chars: int) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    text = str(value).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_cell_chars: int = 200) -> str:
    """Columns padded to their widest value, a rule under the header, numbers right-aligned."""
    header = [cell(c, max_cell_chars) for c in columns]
    body = [[cell(v, max_cell_chars) for v in row] for row in rows]
    widths = [max([len(header[i])] + [len(r[i]) for r in body]) for i in range(len(header))]
    numeric = [
        bool(rows) and all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
        for i in range(len(header))
    ]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return " | ".join(padded).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths)]
    out.extend(line(r) for r in body)
    return "\n".join(out)
