"""YAML command declarations -> CommandSpec, with errors that name file, command and key.

The shape is checked by strict pydantic models (unknown keys and wrong types are errors,
never ignored); what a command *means* is checked by ``validate.spec_problems``, which the
Python API shares.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsroom.commands.durations import parse_duration
from opsroom.commands.validate import spec_problems
from opsroom.core import ArgSpec, ArgType, CommandSpec, ConfigError, HookSpec, RunnerSpec

MAX_SHOWN_PROBLEMS = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ArgModel(_Strict):
    name: str
    type: Literal["string", "enum", "int", "bool", "duration", "choice"] = "string"
    help: str = ""
    required: bool | None = None  # default: required unless a default is given
    default: bool | int | str | None = None  # durations may be written "15m"
    values: list[str] = []
    choices_from: str = ""
    pattern: str = ""
    min: int | str | None = None  # str only for durations: "1m"
    max: int | str | None = None
    max_length: int = 200
    positional: bool = True
    secret: bool = False
    greedy: bool = False  # the last positional string argument takes the remaining words


class HookModel(_Strict):
    command: str = ""
    action: str = ""
    options: dict[str, Any] = {}


class CommandModel(_Strict):
    summary: str = Field(min_length=1)
    description: str = ""
    aliases: list[str] = []
    examples: list[str] = []
    args: list[ArgModel] = []
    runner: dict[str, Any]
    timeout: int | float | str = 300
    lock: str = ""
    channels: list[str] = []
    read_only: bool = False
    on_success: list[HookModel] = []
    on_failure: list[HookModel] = []
    output_max_chars: int = 1_000_000
    options: dict[str, Any] = {}


class IncludeFile(_Strict):
    commands: dict[str, Any] = {}


def _key(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(command)"


def _pydantic_problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        # Drop pydantic's union branch names ("str", "int") from the location.
        loc = [p for p in e["loc"] if p not in ("str", "int", "float", "bool", "function-after")]
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "missing":
            msg = "missing (required)"
        problems.append((_key(loc), msg))
    return problems


def _seconds(value: int | float | str, key: str, problems: list[tuple[str, str]]) -> float:
    if isinstance(value, str):
        try:
            return float(parse_duration(value))
        except ValueError as err:
            problems.append((key, f"{err}, not `{value}`"))
            return 1.0
    return float(value)


def arg_spec(i: int, m: ArgModel, problems: list[tuple[str, str]]) -> ArgSpec:
    kind = ArgType(m.type)
    limits: list[int | None] = []
    for field in ("min", "max"):
        raw = getattr(m, field)
        if isinstance(raw, str):
            if kind is ArgType.DURATION:
                limits.append(int(_seconds(raw, f"args[{i}].{field}", problems)))
            else:
                problems.append((f"args[{i}].{field}", "must be a whole number"))
                limits.append(None)
        else:
            limits.append(raw)
    default = m.default
    if kind is ArgType.DURATION and isinstance(default, str):
        default = int(_seconds(default, f"args[{i}].default", problems))
    return ArgSpec(
        name=m.name,
        type=kind,
        help=m.help,
        required=m.required if m.required is not None else m.default is None,
        default=default,
        values=tuple(m.values),
        choices_from=m.choices_from,
        pattern=m.pattern,
        min=limits[0],
        max=limits[1],
        max_length=m.max_length,
        positional=m.positional,
        secret=m.secret,
        greedy=m.greedy,
    )


def _runner(raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> RunnerSpec | None:
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        problems.append(("runner.type", "missing: e.g. `type: exec`"))
        return None
    return RunnerSpec(kind, {k: v for k, v in raw.items() if k != "type"})


def command_from_yaml(name: str, raw: Any) -> tuple[CommandSpec | None, list[tuple[str, str]]]:
    """One command; returns the spec (None if its shape is unusable) and its problems as
    (key, message). Never use the spec when there are problems."""
    if not isinstance(raw, Mapping):
        return None, [("(command)", "must be a mapping of keys like summary, args, runner")]
    try:
        model = CommandModel.model_validate(dict(raw))
    except ValidationError as err:
        return None, _pydantic_problems(err)
    problems: list[tuple[str, str]] = []
    args = tuple(arg_spec(i, a, problems) for i, a in enumerate(model.args))
    runner = _runner(model.runner, problems)
    hooks = {
        group: tuple(HookSpec(h.command, h.action, dict(h.options)) for h in getattr(model, group))
        for group in ("on_success", "on_failure")
    }
    spec = CommandSpec(
        name=str(name),
        summary=model.summary,
        description=model.description,
        aliases=tuple(model.aliases),
        args=args,
        examples=tuple(model.examples),
        runner=runner,
        timeout=_seconds(model.timeout, "timeout", problems),
        lock=model.lock,
        channels=tuple(model.channels),
        on_success=hooks["on_success"],
        on_failure=hooks["on_failure"],
        read_only=model.read_only,
        output_max_chars=model.output_max_chars,
        options=dict(model.options),
    )
    problems.extend(spec_problems(spec))
    # The spec is returned even with problems, so catalog-wide checks (unknown lists,
    # duplicate names) can report in the same pass; callers raise when problems exist.
    return spec, problems


def commands_from_yaml(
    commands: Mapping[str, Any], source: str, lines: Mapping[str, int] | None = None
) -> tuple[list[CommandSpec], list[str]]:
    """Every command of one ``commands:`` mapping; problems are full one-line messages."""
    specs: list[CommandSpec] = []
    errors: list[str] = []
    for name, raw in commands.items():
        spec, problems = command_from_yaml(str(name), raw)
        where = f"{source}:{lines[name]}" if lines and name in lines else source
        errors.extend(f"{where}: command `{name}`: {key}: {msg}" for key, msg in problems)
        if spec is not None:
            specs.append(spec)
    return specs, errors


def scan_yaml(path: Path, shown: str = "") -> tuple[Any, dict[str, int], list[str]]:
    """Load a YAML file; also return the line of each command and duplicated command keys
    (PyYAML silently keeps the last of two equal keys, which would hide a command)."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        raise ConfigError(f"{where}: invalid YAML: {getattr(err, 'problem', None) or err}") from None
    lines: dict[str, int] = {}
    duplicates: list[str] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "commands" and isinstance(value, yaml.MappingNode):
                for cmd_key, _ in value.value:
                    if cmd_key.value in lines:
                        duplicates.append(
                            f"{shown}:{cmd_key.start_mark.line + 1}: command "
                            f"`{cmd_key.value}` is declared twice in this file"
                        )
                    lines[cmd_key.value] = cmd_key.start_mark.line + 1
    return data, lines, duplicates


def include_files(include: Sequence[str], base_dir: Path, skip: Sequence[Path] = ()) -> list[Path]:
    """Files matched by the ``include:`` globs (relative to ``base_dir``), sorted, each once.
    A pattern without wildcards must match a file: a typo there would hide commands."""
    found: list[Path] = []
    skipped = {p.resolve() for p in skip}
    for pattern in include:
        matches = sorted(glob.glob(pattern, root_dir=base_dir, recursive=True))
        if not matches and not glob.has_magic(pattern):
            raise ConfigError(f"include: `{pattern}`: no such file (relative to {base_dir})")
        for match in matches:
            path = Path(match) if Path(match).is_absolute() else base_dir / match
            if path.is_file() and path.resolve() not in skipped and path.resolve() not in {p.resolve() for p in found}:
                found.append(path)
    return found


def commands_from_file(path: Path, shown: str) -> tuple[list[CommandSpec], list[str]]:
    data, lines, duplicates = scan_yaml(path, shown)
    if data is None:
        return [], duplicates
    if not isinstance(data, dict):
        return [], [f"{shown}: must be a mapping with a `commands:` key"]
    try:
        model = IncludeFile.model_validate(data)
    except ValidationError as err:
        return [], [f"{shown}: {key}: {msg}" for key, msg in _pydantic_problems(err)]
    specs, errors = commands_from_yaml(model.commands, shown, lines)
    return specs, duplicates + errors


def raise_problems(errors: Sequence[str]) -> None:
    if not errors:
        return
    shown = list(errors[:MAX_SHOWN_PROBLEMS])
    if len(errors) > MAX_SHOWN_PROBLEMS:
        shown.append(f"… and {len(errors) - MAX_SHOWN_PROBLEMS} more")
    raise ConfigError("\n".join(shown))
