"""Content files a config points at (KB articles, runbooks): Markdown with YAML front matter,
read from folders in a stable order, with unique ids. One reader, so both kinds of file fail
the same way (file and line) on the same mistakes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

from opsroom.core import ConfigError

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)
CONTENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def load_markdown(
    folders: Iterable[Path], kind: str, parse: Callable[[str, Path], T], *, id_label: str = "id"
) -> list[T]:
    """Every ``*.md`` under the folders, sorted by path, parsed; ids must be unique."""
    items: list[T] = []
    seen: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{kind}: folder {folder} does not exist")
        for path in sorted(folder.rglob("*.md")):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ConfigError(f"{path}: not UTF-8 text") from None
            item = parse(text, path)
            if item.id in seen:
                raise ConfigError(f"{path}:1: {id_label} '{item.id}' is already used by {seen[item.id]}")
            seen[item.id] = path
            items.append(item)
    return items
