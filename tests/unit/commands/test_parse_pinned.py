"""What ``parse`` returns on tricky inputs, pinned exactly (arguments, flags, the text kept
with secrets masked, the canonical text, or the refusal): the parser's fast paths
(commands/parser.py, CommandSpec's cached argument lists) change none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.commands.test_cmd_parser import ALICE, CONFIG, OPS

from opsroom.commands import Catalog, ChoiceLists, parse
from opsroom.core import ParseError

# (text, ("ok", command, args, raw_text, flags, shown_text, canonical) or ("error", message))
PINNED: list[tuple[str, tuple[Any, ...]]] = [
    (
        "deploy api-gateway staging",
        (
            "ok",
            "deploy",
            {"service": "api-gateway", "env": "staging", "version": "latest", "force": False},
            "deploy api-gateway staging",
            {},
            "deploy api-gateway staging",
            "deploy env=staging force=False service=api-gateway version=latest",
        ),
    ),
    (
        "ship payments production version=v4.13.0 --force",
        (
            "ok",
            "deploy",
            {"service": "payments", "env": "production", "version": "v4.13.0", "force": True},
            "ship payments production version=v4.13.0 --force",
            {},
            "ship payments production version=v4.13.0 --force",
            "deploy env=production force=True service=payments version=v4.13.0",
        ),
    ),
    (
        "deploy env=dev service=search --no-force --dry-run",
        (
            "ok",
            "deploy",
            {"service": "search", "env": "dev", "version": "latest", "force": False},
            "deploy env=dev service=search --no-force --dry-run",
            {"dry_run": True},
            "deploy env=dev service=search --no-force --dry-run",
            "deploy env=dev force=False service=search version=latest",
        ),
    ),
    (
        "deploy \"api-gateway\" 'staging' --version v1",
        (
            "ok",
            "deploy",
            {"service": "api-gateway", "env": "staging", "version": "v1", "force": False},
            "deploy \"api-gateway\" 'staging' --version v1",
            {},
            "deploy \"api-gateway\" 'staging' --version v1",
            "deploy env=staging force=False service=api-gateway version=v1",
        ),
    ),
    (
        "deploy api-gateway staging force=yes",
        (
            "ok",
            "deploy",
            {"service": "api-gateway", "env": "staging", "version": "latest", "force": True},
            "deploy api-gateway staging force=yes",
            {},
            "deploy api-gateway staging force=yes",
            "deploy env=staging force=True service=api-gateway version=latest",
        ),
    ),
    (
        'say "it\'s on fire; rm -rf / $(x) `y`"',
        (
            "ok",
            "say",
            {"text": "it's on fire; rm -rf / $(x) `y`"},
            'say "it\'s on fire; rm -rf / $(x) `y`"',
            {},
            'say "it\'s on fire; rm -rf / $(x) `y`"',
            "say text=it's on fire; rm -rf / $(x) `y`",
        ),
    ),
    (
        'say text="a \\"quoted\\" C:\\temp"',
        (
            "ok",
            "say",
            {"text": 'a "quoted" C:\\temp'},
            'say text="a \\"quoted\\" C:\\temp"',
            {},
            'say text="a \\"quoted\\" C:\\temp"',
            'say text=a "quoted" C:\\temp',
        ),
    ),
    (
        "say héllo-wörld-ﬁ",
        (
            "ok",
            "say",
            {"text": "héllo-wörld-fi"},
            "say héllo-wörld-fi",
            {},
            "say héllo-wörld-fi",
            "say text=héllo-wörld-fi",
        ),
    ),
    ("say ＡＢＣ", ("ok", "say", {"text": "ABC"}, "say ABC", {}, "say ABC", "say text=ABC")),
    (
        "say “smart quotes here”",
        (
            "ok",
            "say",
            {"text": "smart quotes here"},
            'say "smart quotes here"',
            {},
            'say "smart quotes here"',
            "say text=smart quotes here",
        ),
    ),
    (
        "say -- --not-a-flag",
        (
            "ok",
            "say",
            {"text": "--not-a-flag"},
            "say -- --not-a-flag",
            {},
            "say -- --not-a-flag",
            "say text=--not-a-flag",
        ),
    ),
    ("say key=value", ("error", "unknown argument `key`: `say` takes text")),
    (
        "scale search 3 --drain 10m",
        (
            "ok",
            "scale",
            {"service": "search", "replicas": 3, "drain": 600},
            "scale search 3 --drain 10m",
            {},
            "scale search 3 --drain 10m",
            "scale drain=600 replicas=3 service=search",
        ),
    ),
    (
        "scale search replicas=20 drain=1h",
        (
            "ok",
            "scale",
            {"service": "search", "replicas": 20, "drain": 3600},
            "scale search replicas=20 drain=1h",
            {},
            "scale search replicas=20 drain=1h",
            "scale drain=3600 replicas=20 service=search",
        ),
    ),
    ("login abcd1234", ("ok", "login", {"token": "abcd1234"}, "login •••", {}, "login •••", "login token=•••")),
    (
        "login token=abcd1234",
        ("ok", "login", {"token": "abcd1234"}, "login token=•••", {}, "login token=•••", "login token=•••"),
    ),
    (
        "login --token abcd1234",
        ("ok", "login", {"token": "abcd1234"}, "login --token •••", {}, "login --token •••", "login token=•••"),
    ),
    ("say a b", ("error", "too many values: `say` takes 1 without names; `b` is extra — usage: say <text>")),
    (
        "deploy api-gateway staging v1 extra",
        (
            "error",
            "too many values: `deploy` takes 3 without names; `extra` is extra"
            " — usage: deploy <service> <env> [version=latest] [--force]",
        ),
    ),
    ("scale search 0", ("error", "`replicas` must be between 1 and 20")),
    ('say "unbalanced', ("error", 'unbalanced quotes: close the quote you opened, e.g. `reason="it\'s on fire"`')),
    ("deploy api-gateway", ("error", "missing `env` — usage: deploy <service> <env> [version=latest] [--force]")),
    ("login token=abcd1234 token=abcd1234", ("error", "`token` is given twice; give it once")),
    (
        "say\u200bhello",
        ("error", "the invisible character U+200B at position 4 is not allowed; write the command on one line"),
    ),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    cfg = yaml.safe_load(CONFIG)
    return Catalog.from_config(cfg["commands"], [], Path("."), ChoiceLists(cfg["lists"]), plugins=False)


@pytest.mark.parametrize(("text", "expected"), PINNED)
def test_parse_result_is_pinned(catalog: Catalog, text: str, expected: tuple[Any, ...]) -> None:
    try:
        inv = parse(text, catalog, ALICE, OPS)
    except ParseError as err:
        got: tuple[Any, ...] = ("error", str(err))
    else:
        got = ("ok", inv.command.name, dict(inv.args), inv.raw_text, dict(inv.flags), inv.shown_text(), inv.canonical())
    assert got == expected
