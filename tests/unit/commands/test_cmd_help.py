"""Help: lists only what the asker may run; command help shows everything needed to type it."""

from __future__ import annotations

from pathlib import Path

import yaml

from opsroom.commands import Catalog, ChoiceLists, render_command_help, render_help, usage
from opsroom.core import CommandSpec

CONFIG = r"""
lists:
  services: {values: [api-gateway, payments]}
commands:
  deploy:
    summary: Deploy a version of a service to an environment
    aliases: [ship]
    examples: ["deploy api-gateway staging", "deploy payments production version=v4.13.0"]
    args:
      - {name: service, type: choice, choices_from: services, help: which service}
      - {name: env, type: enum, values: [dev, staging, production]}
      - {name: version, pattern: '^v?[0-9][0-9A-Za-z.\-]*$', required: false, default: latest}
    runner: {type: exec, argv: [deploy]}
    timeout: 10m
    channels: ["#ops"]
  silence:
    summary: Silence an alert
    args:
      - {name: alert}
      - {name: for, type: duration, default: 1h, max: 1d, positional: false}
      - {name: reason, positional: false}
      - {name: notify, type: bool, default: true}
      - {name: token, secret: true, required: false, default: hunter2}
    runner: {type: exec, argv: [silence]}
  status:
    summary: Show status
    runner: {type: exec, argv: [status]}
    read_only: true
"""


def catalog() -> tuple[Catalog, ChoiceLists]:
    cfg = yaml.safe_load(CONFIG)
    lists = ChoiceLists(cfg["lists"])
    return Catalog.from_config(cfg["commands"], [], Path("."), lists, plugins=False), lists


def test_usage_lines() -> None:
    cat, _ = catalog()
    assert usage(cat.get("deploy")) == "deploy <service> <env> [version=latest]"  # type: ignore[arg-type]
    assert usage(cat.get("silence")) == (  # type: ignore[arg-type]
        "silence <alert> [for=1h] reason=<reason> [--no-notify] [token=…]"
    )
    assert usage(cat.get("status")) == "status"  # type: ignore[arg-type]


def test_help_lists_only_what_the_asker_may_run() -> None:
    cat, _ = catalog()

    def read_only(spec: CommandSpec) -> bool:
        return spec.read_only

    text = render_help(cat, read_only).as_text()
    assert "`status` — Show status" in text
    assert "deploy" not in text and "silence" not in text
    everything = render_help(cat, lambda spec: True).as_text()
    assert "`deploy <service> <env> [version=latest]` — Deploy a version" in everything
    assert everything.index("deploy") < everything.index("silence") < everything.index("status")


def test_help_when_nothing_is_allowed() -> None:
    cat, _ = catalog()
    assert render_help(cat, lambda spec: False).as_text() == "There are no commands you may run here."


def test_command_help_shows_args_values_defaults_examples_aliases() -> None:
    cat, lists = catalog()
    text = render_command_help(cat.get("deploy"), lists).as_text()  # type: ignore[arg-type]
    assert "deploy <service> <env> [version=latest]" in text
    assert "service: which service (one of api-gateway, payments)" in text
    assert "env: one of dev, staging, production" in text
    assert "default latest" in text
    assert "deploy payments production version=v4.13.0" in text
    assert "aliases: ship" in text and "only in #ops" in text and "10m" in text


def test_command_help_without_lists_names_the_list_and_hides_secret_defaults() -> None:
    cat, _ = catalog()
    deploy = render_command_help(cat.get("deploy")).as_text()  # type: ignore[arg-type]
    assert "from the `services` list" in deploy
    silence = render_command_help(cat.get("silence")).as_text()  # type: ignore[arg-type]
    assert "hunter2" not in silence
    assert "for: duration like 90s, 15m, 2h, 1d; max 1d; default 1h; give as for=…" in silence


def test_usage_of_a_greedy_argument() -> None:
    from opsroom.commands import arg
    from opsroom.core import ArgType

    spec = CommandSpec(
        "deny", summary="Deny", builtin=True, args=(arg("id", ArgType.INT), arg("reason", required=False, greedy=True))
    )
    assert usage(spec) == "deny <id> [reason…]"
    assert "takes the rest of the words" in render_command_help(spec).as_text()
