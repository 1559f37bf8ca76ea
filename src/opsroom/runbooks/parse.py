"""Reading a runbook file.

    ---
    id: payments-error-rate
    title: Payments error rate
    owner: sre
    applies_to: {alertname: PaymentsErrorRate}
    inputs:
      - {name: env, type: enum, values: [staging, production], default: production}
      - {name: version, type: string, pattern: 'v\\d+\\.\\d+\\.\\d+', required: false, example: v4.12.3}
    ---
    Prose for people.

    - [ ] Look at the payments dashboard

    ```opsroom {id=logs auto=true}
    logs payments {env}
    ```

    ```opsroom {id=rollback when="steps.logs.ok and version != ''"}
    rollback payments {version} env={env}
    ```

Manual steps are task-list items (``- [ ] …``); command steps are fenced blocks whose info
string starts with ``opsroom`` and hold exactly one command. markdown-it does the Markdown,
so a ``- [ ]`` inside a code block is not a step.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel, ConfigDict, ValidationError

from opsroom.commands.loader import ArgModel, arg_spec
from opsroom.config.content import CONTENT_ID, FRONT_MATTER, load_markdown
from opsroom.core import ConfigError
from opsroom.runbooks.model import Runbook, Step
from opsroom.runbooks.when import WhenError, parse_when

_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TASK = re.compile(r"^\[( |x|X)\]\s+(.+)$", re.S)
_ATTRS = re.compile(r"^\{(.*)\}$", re.S)


class InputModel(ArgModel):
    # A value that fits the input, used when `opsroom check` parses the steps' commands.
    example: str = ""


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    id: str
    title: str
    owner: str = ""
    applies_to: dict[str, str] = {}
    inputs: list[InputModel] = []
    schedule: str = ""


def _front(text: str, path: Path) -> tuple[FrontMatter, int]:
    found = FRONT_MATTER.match(text)
    if not found:
        raise ConfigError(f"{path}:1: a runbook starts with front matter between '---' lines (id, title)")
    try:
        raw: Any = yaml.safe_load(found.group(1)) or {}
        front = FrontMatter.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:1: front matter is not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}:1: front matter {where}: {first['msg']}") from None
    if not CONTENT_ID.match(front.id):
        raise ConfigError(f"{path}:1: 'id' must be lowercase letters, digits, '.', '_' or '-' (got {front.id!r})")
    return front, found.group(0).count("\n")


def _attributes(info: str, path: Path, line: int) -> dict[str, str]:
    rest = info[len("opsroom") :].strip()
    if not rest:
        return {}
    braces = _ATTRS.match(rest)
    if not braces:
        raise ConfigError(f"{path}:{line}: attributes go in braces: ```opsroom {{id=logs auto=true}}")
    try:
        words = shlex.split(braces.group(1))
    except ValueError:
        raise ConfigError(f"{path}:{line}: unbalanced quotes in the block's attributes") from None
    attrs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or key not in ("id", "auto", "on_fail", "when"):
            raise ConfigError(f"{path}:{line}: unknown attribute {word!r} (id, auto, on_fail, when)")
        attrs[key] = value
    return attrs


def _command_step(token: Any, n: int, path: Path, offset: int) -> Step:
    line = offset + token.map[0] + 1
    attrs = _attributes(token.info.strip(), path, line)
    commands = [ln.strip() for ln in token.content.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if len(commands) != 1:
        raise ConfigError(f"{path}:{line}: an opsroom block holds exactly one command (found {len(commands)})")
    command = commands[0].removeprefix("/").removeprefix("!")
    step_id = attrs.get("id", f"step-{n}")
    if not _STEP_ID.match(step_id):
        raise ConfigError(f"{path}:{line}: step id {step_id!r}: lowercase letters, digits, '-' or '_'")
    if attrs.get("auto", "false") not in ("true", "false"):
        raise ConfigError(f"{path}:{line}: auto= is true or false")
    if attrs.get("on_fail", "stop") not in ("stop", "continue"):
        raise ConfigError(f"{path}:{line}: on_fail= is stop or continue")
    when_text = attrs.get("when", "")
    try:
        when = parse_when(when_text) if when_text else None
    except WhenError as exc:
        raise ConfigError(f"{path}:{line}: when={when_text!r}: {exc}") from None
    return Step(
        id=step_id,
        kind="command",
        text=command,
        line=line,
        auto=attrs.get("auto") == "true",
        on_fail="continue" if attrs.get("on_fail") == "continue" else "stop",
        when=when,
        when_text=when_text,
    )


def parse_runbook(text: str, path: Path) -> Runbook:
    front, offset = _front(text, path)
    body = text[FRONT_MATTER.match(text).end() :]  # type: ignore[union-attr]  # _front checked it
    tokens = MarkdownIt("commonmark").parse(body)
    steps: list[Step] = []
    summary: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "fence" and token.info.strip().split(" ", 1)[0] == "opsroom":
            steps.append(_command_step(token, len(steps) + 1, path, offset))
        elif token.type == "inline" and i >= 2 and tokens[i - 2].type == "list_item_open":
            task = _TASK.match(token.content)
            if task and token.map:
                steps.append(
                    Step(
                        id=f"step-{len(steps) + 1}",
                        kind="manual",
                        text=task.group(2).strip(),
                        line=offset + token.map[0] + 1,
                    )
                )
        elif token.type == "inline" and not steps and tokens[i - 1].type == "paragraph_open":
            summary.append(token.content)
    seen: dict[str, int] = {}
    for step in steps:
        if step.id in seen:
            raise ConfigError(f"{path}:{step.line}: step id '{step.id}' is already used on line {seen[step.id]}")
        seen[step.id] = step.line
    if not steps:
        raise ConfigError(f"{path}:1: a runbook needs at least one step ('- [ ] …' or an ```opsroom block)")
    problems: list[tuple[str, str]] = []
    inputs = tuple(arg_spec(n, model, problems) for n, model in enumerate(front.inputs))
    if problems:
        key, message = problems[0]
        raise ConfigError(f"{path}:1: inputs: {key}: {message}")
    return Runbook(
        id=front.id,
        title=front.title,
        path=path,
        steps=tuple(steps),
        inputs=inputs,
        examples={m.name: m.example for m in front.inputs if m.example},
        applies_to=dict(front.applies_to),
        owner=front.owner,
        schedule=front.schedule,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        summary="\n\n".join(summary),
    )


def load_runbooks(folders: list[Path]) -> list[Runbook]:
    return load_markdown(folders, "runbooks", parse_runbook, id_label="runbook id")
