"""Read the policy: compile the shorthand, read the .cedar files, give every policy its id.

Each source (the shorthand, each file) is parsed on its own so an error names the file and,
where we can find it, the line. Every policy then gets the id the audit log will show: its
``@id`` annotation, or ``<file>#<n>`` when it has none. The policies are kept in Cedar's JSON
form, keyed by those ids, so the engine can build one policy set whose decisions name them
directly.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from opsroom.config.policy import RULE_ID, PolicyConfig
from opsroom.core import ConfigError
from opsroom.policy.shorthand import compile_rule
from opsroom.policy.windows import WindowError

SHORTHAND = "opsroom.yaml policy.rules"


@dataclass(frozen=True)
class LoadedPolicy:
    id: str  # what decisions and the audit log name
    effect: str  # "permit" | "forbid"
    source: str  # "opsroom.yaml policy.rules" or a file path relative to opsroom.yaml
    reason: str  # the @reason annotation: shown when this forbid decides
    est: dict[str, Any]  # Cedar's JSON form of the policy


@dataclass(frozen=True)
class PolicySource:
    """One piece of Cedar text and the ids of its policies, in order (Cedar numbers them
    ``policy0``, ``policy1``… per parse; ``ids[n]`` is ours for ``policyN``)."""

    name: str
    text: str
    ids: tuple[str, ...]


@dataclass
class LoadedPolicySet:
    sources: list[PolicySource] = field(default_factory=list)
    policies: dict[str, LoadedPolicy] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def combined_json(self) -> str:
        static = {pid: p.est for pid, p in self.policies.items()}
        return json.dumps({"staticPolicies": static, "templates": {}, "templateLinks": []})


def split_statements(text: str) -> list[tuple[int, str]]:
    """Split Cedar text at the ``;`` ending each policy (outside strings and ``//`` comments),
    returning (first line number, text) pairs. Used only to point at the line of an error."""
    out: list[tuple[int, str]] = []
    start, line, start_line = 0, 1, 1
    i, n = 0, len(text)
    in_string = False
    seen_code = False
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
            elif ch == "\n":
                line += 1
        elif ch == '"':
            in_string = True
            if not seen_code:
                seen_code, start_line = True, line
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == ";":
            out.append((start_line, text[start : i + 1]))
            start, seen_code = i + 1, False
        elif ch == "\n":
            line += 1
        elif not ch.isspace() and not seen_code:
            seen_code, start_line = True, line
        i += 1
    if text[start:].strip() and seen_code:
        out.append((start_line, text[start:]))
    return out


def _parse_error(name: str, text: str, err: Exception) -> ConfigError:
    for line, statement in split_statements(text):
        try:
            cedarpy.policies_to_json_str(statement)
        except ValueError as inner:
            return ConfigError(f"{name}, policy starting at line {line}: invalid Cedar: {inner}")
    return ConfigError(f"{name}: invalid Cedar: {err}")


def parse_source(name: str, text: str, default_ids: list[str] | None = None) -> list[LoadedPolicy]:
    """Parse one source; ``default_ids`` name policies that carry no ``@id``."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as err:
        raise _parse_error(name, text, err) from None
    if parsed.get("templates"):
        raise ConfigError(
            f"{name}: policy templates (?principal / ?resource) are not supported; write the principal and resource out"
        )
    static: dict[str, Any] = parsed.get("staticPolicies", {})
    out: list[LoadedPolicy] = []
    # Cedar numbers policies policy0, policy1… in text order.
    ordered = sorted(static.items(), key=lambda kv: int(kv[0].removeprefix("policy")))
    for index, (_, est) in enumerate(ordered):
        annotations: dict[str, Any] = est.get("annotations") or {}
        pid = annotations.get("id") or ""
        if pid and not RULE_ID.match(pid):
            raise ConfigError(
                f"{name}: @id({pid!r}) must start with a letter or digit and hold only letters, "
                "digits and _ . : - (at most 100 characters)"
            )
        if not pid:
            pid = default_ids[index] if default_ids else f"{name}#{index + 1}"
        reason = annotations.get("reason") or ""
        if "\n" in reason or "\r" in reason:
            raise ConfigError(f"{name}: @reason of {pid} must be one line")
        out.append(LoadedPolicy(pid, est["effect"], name, reason, est))
    return out


def _display(path: str, base_dir: Path) -> str:
    try:
        rel = os.path.relpath(path, base_dir)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def policy_files(policy: PolicyConfig, base_dir: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(display name, path) of every policy file, in a stable order, plus warnings."""
    found: list[tuple[str, Path]] = []
    warnings: list[str] = []
    seen: set[Path] = set()
    for pattern in policy.files:
        full = os.path.join(base_dir, os.path.expanduser(pattern))
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(full, recursive=True))
            if not matches:
                warnings.append(f"policy.files: {pattern!r} matches no file")
        else:
            if not os.path.isfile(full):
                raise ConfigError(f"policy.files: {pattern} not found (looked at {full})")
            matches = [full]
        for match in matches:
            path = Path(match).resolve()
            if path.is_file() and path not in seen:
                seen.add(path)
                found.append((_display(match, base_dir), path))
    return found, warnings


def load(policy: PolicyConfig, base_dir: Path) -> LoadedPolicySet:
    """Everything the policy configures, parsed, with unique ids. Raises ConfigError."""
    result = LoadedPolicySet()
    texts: list[str] = []
    for rule in policy.rules:
        try:
            texts.append(compile_rule(rule))
        except WindowError as err:
            raise ConfigError(f"{SHORTHAND}, rule {rule.id}: {err}") from None
    if texts:
        shorthand_text = "\n".join(texts)
        loaded = parse_source(SHORTHAND, shorthand_text, [r.id for r in policy.rules])
        _add(result, SHORTHAND, shorthand_text, loaded)
    files, result.warnings = policy_files(policy, base_dir)
    for name, path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{name}: cannot read: {err}") from None
        _add(result, name, text, parse_source(name, text))
    return result


def _add(result: LoadedPolicySet, name: str, text: str, loaded: list[LoadedPolicy]) -> None:
    for item in loaded:
        if item.id in result.policies:
            other = result.policies[item.id].source
            where = "twice in " + name if other == name else f"in {other} and in {name}"
            raise ConfigError(f"policy id {item.id} is used {where}; ids must be unique")
        result.policies[item.id] = item
    result.sources.append(PolicySource(name, text, tuple(p.id for p in loaded)))
