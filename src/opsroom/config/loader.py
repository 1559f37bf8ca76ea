"""Reading opsroom.yaml: YAML with line numbers, ``${ENV}`` interpolation, pydantic validation.

Errors name the file, the line and the key, and say what is allowed, because the person
reading them is fixing a config at 2 a.m.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from opsroom.config.models import OpsroomConfig
from opsroom.core import ConfigError, Place

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# libyaml's parser when PyYAML has it (≈ 10× faster on the demo config); the same safe
# constructors and the same marks (lines) either way.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc]
    """A SafeLoader that remembers the line of every mapping key, by key path."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines: dict[Any, int] = {}
    for key_node, _value in node.value:
        lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
    return _LinedDict(mapping, lines)


class _LinedDict(dict):  # type: ignore[type-arg]
    """A dict that knows the source line of each key (only while loading)."""

    def __init__(self, data: dict[Any, Any], lines: dict[Any, int]) -> None:
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def interpolate(value: Any, env: os._Environ[str] | dict[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string. A missing variable without
    a default becomes "" — secrets are optional until a feature that needs them is configured,
    and that feature then says which variable is missing."""
    env = os.environ if env is None else env

    def sub(text: str) -> str:
        return _ENV.sub(lambda m: env.get(m.group(1), m.group(2) or ""), text)

    if isinstance(value, str):
        return sub(value)
    if isinstance(value, _LinedDict):
        return _LinedDict({k: interpolate(v, env) for k, v in value.items()}, value.lines)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    return value


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    line = None
    node = data
    for part in loc:
        if isinstance(node, _LinedDict) and part in node.lines:
            line = node.lines[part]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return line


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_LineLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None


def _describe(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; `opsroom config schema` lists what is allowed)"
    if kind == "literal_error":
        return str(err["msg"]).replace("Input should be", "must be")
    return str(err["msg"])


def validate(data: Any, source: str = "opsroom.yaml") -> OpsroomConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (server:, users:, …)")
    # Top-level keys starting with "x-" are the user's own (YAML anchors), as in Compose files.
    data = _LinedDict({k: v for k, v in data.items() if not str(k).startswith("x-")}, getattr(data, "lines", {}))
    # Command definitions are left as written: runners resolve ${NAME} in their own options
    # when they run, so tokens are read fresh and never sit in the loaded catalog.
    commands = data.get("commands")
    data = interpolate(data)
    if commands is not None:
        data["commands"] = commands
    try:
        return OpsroomConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(data, loc)
            key = ".".join(str(p) for p in loc) or "(top level)"
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {key}: {_describe(err)}")
        raise ConfigError("\n".join(problems)) from None


@dataclass(frozen=True)
class LoadedConfig:
    config: OpsroomConfig
    path: Path | None  # None for the bundled demo
    base_dir: Path  # relative paths in the config are relative to this

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "bundled demo"


def load(path: Path) -> LoadedConfig:
    data = load_yaml(path)
    config = validate(data, str(path))
    return LoadedConfig(config, path, path.resolve().parent)


DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "opsroom.yaml"


def content_dir(loaded: LoadedConfig) -> Path:
    """Where the config's content folders (kb, runbooks) are: next to the config file; for
    the bundled demo, next to the bundled config (its state still goes in the working folder)."""
    return loaded.path.resolve().parent if loaded.path else DEMO_CONFIG.parent


def config_places(loaded: LoadedConfig, default_platform: str) -> dict[str, Place]:
    """Configured channels by name, as Places on their platform."""
    return {
        c.name: Place(c.platform or default_platform, c.id or c.name.lstrip("#"), channel_name=c.name)
        for c in loaded.config.channels
    }


def load_or_demo(path: Path | None) -> LoadedConfig:
    """``--config FILE``, else ``./opsroom.yaml``, else the bundled demo."""
    if path is not None:
        return load(path)
    local = Path("opsroom.yaml")
    if local.exists():
        return load(local)
    demo = load(DEMO_CONFIG)
    return LoadedConfig(demo.config, None, Path.cwd())


def json_schema() -> dict[str, Any]:
    return OpsroomConfig.model_json_schema()
