"""Reading a runner's options with errors that name the runner and the bad option.

Options come from opsroom.yaml (or the decorator API), so every check here answers a person
editing a file: what is wrong, with which key, and what would be right.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsroom.core import ConfigError


class Options:
    """A view over one runner's options that remembers which keys were read, so a typo such
    as ``agrv`` is reported instead of silently ignored."""

    def __init__(self, runner: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{runner} runner: options must be a mapping, not {type(raw).__name__}")
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise ConfigError(f"{runner} runner: unknown option {unknown[0]!r} (known: {', '.join(known)})")
        self.runner = runner
        self.raw = raw

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.runner} runner: option {key!r} {message}")

    def has(self, key: str) -> bool:
        return key in self.raw and self.raw[key] is not None

    def string(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {type(value).__name__}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, not {type(value).__name__}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum:g}, not {value}")
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {type(value).__name__}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, not {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def string_list(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self.raw.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise self.error(key, "must be a list of strings (never one command-line string)")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(key, f"item {i} must be a string, not {type(item).__name__} ({item!r})")
        return list(value)

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of names to strings; numbers and bools are accepted and turned into text,
        since YAML reads ``PORT: 8080`` as a number."""
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping of names to strings, not {type(value).__name__}")
        out: dict[str, str] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                raise self.error(key, f"has a bad name {name!r}")
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, (int, float)):
                item = str(item)
            if not isinstance(item, str):
                raise self.error(key, f"value of {name!r} must be a string, not {type(item).__name__}")
            out[name] = item
        return out
