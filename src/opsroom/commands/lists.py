"""Dynamic lists for ``choice`` arguments (known services, clusters, regions…).

A list comes from config (``lists:`` in opsroom.yaml: fixed ``values``, or the keys/items
found at a dotted ``path`` in a JSON ``file``) or from a Python provider registered at
start-up. File lists are re-read when the file changes, so a service catalogue kept by
another tool is picked up without a reload; a broken rewrite keeps the last good values
instead of making every command fail.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsroom.config.models import ListConfig
from opsroom.core import ConfigError
from opsroom.errors import IntegrationError

log = logging.getLogger(__name__)

Provider = Callable[[], Iterable[str]]


class ListUnavailable(IntegrationError):
    """A list could not be read right now (file gone, provider failed)."""


@dataclass
class _FileList:
    """A list read from a JSON file, cached by (mtime, size) of the file."""

    name: str
    file: Path
    path: str
    stamp: tuple[int, int] | None = None
    values: tuple[str, ...] | None = None

    def get(self) -> tuple[str, ...]:
        try:
            stat = self.file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self.stamp or self.values is None:
                self.values = _values_from_json(self.file, self.path)
                self.stamp = stamp
        except (OSError, ValueError) as err:
            if self.values is None:
                raise ListUnavailable(f"list `{self.name}`: {err}") from err
            # Keep serving the last good values; log only when the file changed again.
            if self.stamp != (-1, -1):
                log.warning("list %s: keeping last good values: %s", self.name, err)
                self.stamp = (-1, -1)
        return self.values


def _values_from_json(file: Path, dotted: str) -> tuple[str, ...]:
    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err.msg} at line {err.lineno})") from None
    where = "the top level"
    for part in dotted.split(".") if dotted else ():
        where = f"`{part}`"
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise ValueError(f"{file}: path `{dotted}` not found (stopped at {where})")
    if isinstance(data, dict):
        items: list[Any] = list(data.keys())
    elif isinstance(data, list):
        items = data
    else:
        raise ValueError(f"{file}: {where} is neither an object nor an array")
    return clean_values(items, f"{file}")


def clean_values(items: Iterable[Any], origin: str) -> tuple[str, ...]:
    """Strings (numbers are turned into strings), NFKC-normalised, deduplicated, in order.
    Values are compared with what people type, so they get the same normalisation."""
    seen: dict[str, str] = {}
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ValueError(f"{origin}: list items must be strings, got {type(item).__name__}")
        value = unicodedata.normalize("NFKC", str(item)).strip()
        if not value or any(unicodedata.category(ch)[0] == "C" for ch in value):
            raise ValueError(f"{origin}: list item {value!r} is empty or has control characters")
        seen.setdefault(value.casefold(), value)
    return tuple(seen.values())


class ChoiceLists:
    """Named lists of allowed values. ``get`` is cheap: one ``stat`` for file lists."""

    def __init__(
        self, configs: Mapping[str, ListConfig | Mapping[str, Any]] | None = None, *, base_dir: Path = Path(".")
    ) -> None:
        self._fixed: dict[str, tuple[str, ...]] = {}
        self._files: dict[str, _FileList] = {}
        self._providers: dict[str, Provider] = {}
        for name, raw in (configs or {}).items():
            try:
                cfg = raw if isinstance(raw, ListConfig) else ListConfig.model_validate(raw)
            except ValidationError as err:
                problems = [
                    f"lists.{name}"
                    + "".join(f".{p}" for p in e["loc"])
                    + ": "
                    + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
                    for e in err.errors()
                ]
                raise ConfigError("\n".join(problems)) from None
            self._add_config(name, cfg, base_dir)

    def _add_config(self, name: str, cfg: ListConfig, base_dir: Path) -> None:
        where = f"lists.{name}"
        if cfg.values and cfg.file:
            raise ConfigError(f"{where}: give either `values` or `file`, not both")
        if cfg.path and not cfg.file:
            raise ConfigError(f"{where}: `path` needs a `file`")
        if cfg.file:
            file = Path(cfg.file)
            entry = _FileList(name, file if file.is_absolute() else base_dir / file, cfg.path)
            try:
                entry.get()  # a missing or broken file at start-up is a config error
            except ListUnavailable as err:
                raise ConfigError(f"{where}.file: {err.__cause__ or err}") from None
            self._files[name] = entry
        elif cfg.values:
            try:
                self._fixed[name] = clean_values(cfg.values, f"{where}.values")
            except ValueError as err:
                raise ConfigError(str(err)) from None
        else:
            raise ConfigError(f"{where}: needs `values` or `file`")

    def register(self, name: str, provider: Provider, *, replace: bool = False) -> None:
        """Add a list computed by Python (called on every ``get``; cache inside if slow)."""
        if name in self and not replace:
            raise ConfigError(f"list `{name}` is already defined")
        self._fixed.pop(name, None)
        self._files.pop(name, None)
        self._providers[name] = provider

    def get(self, name: str) -> Sequence[str]:
        """The current values; KeyError for an unknown list, ListUnavailable if unreadable."""
        if name in self._fixed:
            return self._fixed[name]
        if name in self._files:
            return self._files[name].get()
        provider = self._providers[name]
        try:
            return clean_values(provider(), f"list `{name}`")
        except Exception as err:  # a provider is user code: any failure means "unavailable"
            log.warning("list %s: provider failed: %s", name, err)
            raise ListUnavailable(f"list `{name}` could not be read") from err

    def names(self) -> list[str]:
        return sorted({*self._fixed, *self._files, *self._providers})

    def __contains__(self, name: object) -> bool:
        return name in self._fixed or name in self._files or name in self._providers
