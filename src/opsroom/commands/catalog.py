"""The catalog: every command opsroom knows, from YAML and Python, checked as a whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opsroom.commands.decorators import Registry, default_registry, discover_plugins
from opsroom.commands.lists import ChoiceLists
from opsroom.commands.loader import (
    commands_from_file,
    commands_from_yaml,
    include_files,
    raise_problems,
    scan_yaml,
)
from opsroom.commands.validate import catalog_problems, spec_problems
from opsroom.core import CommandSpec


class Catalog:
    """Immutable once built; a config reload builds a new one (and keeps the old on error)."""

    def __init__(
        self, specs: Iterable[CommandSpec], lists: ChoiceLists, *, sources: Mapping[str, str] | None = None
    ) -> None:
        """``sources`` maps a command name to where it was declared, for error messages."""
        self.lists = lists
        entries = [((sources or {}).get(s.name, "python"), s) for s in specs]
        errors = [f"{src}: command `{s.name}`: {key}: {msg}" for src, s in entries for key, msg in spec_problems(s)]
        errors += catalog_problems(entries, lists.names())
        raise_problems(errors)
        self._specs = {s.name: s for _, s in sorted(entries, key=lambda e: e[1].name)}
        self._lookup = {word: s for s in self._specs.values() for word in (s.name, *s.aliases)}
        self._sources = {s.name: src for src, s in entries}

    @classmethod
    def from_config(
        cls,
        commands: Mapping[str, Mapping[str, Any]],
        include: Sequence[str],
        base_dir: Path,
        lists: ChoiceLists,
        *,
        plugins: bool = True,
        extra: Iterable[CommandSpec] = (),
        source: str = "opsroom.yaml",
        registry: Registry | None = None,
    ) -> Catalog:
        """Everything: ``commands:`` of opsroom.yaml (``source`` names that file, relative to
        ``base_dir``), the files matched by ``include:``, Python commands registered so far
        and by ``opsroom.commands`` plugins (``plugins=True``), and ``extra`` specs.
        Raises ConfigError listing every problem found, one per line."""
        main = base_dir / source
        lines: dict[str, int] = {}
        errors: list[str] = []
        if main.is_file():  # line numbers and duplicate keys, when the file is at hand
            _, lines, errors = scan_yaml(main, source)
        specs, problems = commands_from_yaml(commands, source, lines)
        errors += problems
        entries = [(source, s) for s in specs]
        for path in include_files(include, base_dir, skip=[main]):
            shown = _relative(path, base_dir)
            found, problems = commands_from_file(path, shown)
            entries += [(shown, s) for s in found]
            errors += problems
        if plugins:
            discover_plugins()
            entries += (default_registry if registry is None else registry).entries()
        elif registry is not None:
            entries += registry.entries()
        entries += [("extra", s) for s in extra]
        errors += catalog_problems(entries, lists.names())
        raise_problems(errors)
        return cls([s for _, s in entries], lists, sources={s.name: src for src, s in entries})

    def get(self, name_or_alias: str) -> CommandSpec | None:
        return self._lookup.get(name_or_alias.lower())

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name_or_alias: object) -> bool:
        return isinstance(name_or_alias, str) and self.get(name_or_alias) is not None

    def names(self) -> list[str]:
        """Command names (not aliases), sorted."""
        return list(self._specs)

    def callable_names(self) -> list[str]:
        """Names and aliases: what "did you mean" may suggest."""
        return sorted(self._lookup)

    def source(self, name: str) -> str:
        """Where a command was declared: a YAML file, a Python function, ``extra``."""
        return self._sources[name]


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
