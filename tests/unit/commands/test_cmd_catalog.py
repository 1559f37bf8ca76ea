"""Catalog building: YAML validation errors name file, command and key; includes; Python API;
entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from opsroom.commands import (
    Catalog,
    ChoiceLists,
    Registry,
    arg,
    builtin,
    command,
    decorators,
    discover_plugins,
)
from opsroom.core import ArgType, CommandSpec, ConfigError, HookSpec, RunContext, RunnerSpec

LISTS = ChoiceLists({"services": {"values": ["api", "payments"]}})

DEPLOY: dict[str, Any] = {
    "summary": "Deploy a service",
    "aliases": ["ship"],
    "examples": ["deploy api staging"],
    "args": [
        {"name": "service", "type": "choice", "choices_from": "services"},
        {"name": "env", "type": "enum", "values": ["dev", "staging", "production"]},
        {"name": "version", "pattern": r"^v?[0-9][0-9A-Za-z.\-]*$", "required": False, "default": "latest"},
    ],
    "runner": {"type": "exec", "argv": ["deploy", "{service}"]},
    "timeout": "10m",
    "lock": "deploy:{service}:{env}",
    "channels": ["#ops"],
    "on_success": [{"command": "deploy {service} dev"}],
    "on_failure": [{"action": "ticket.open", "options": {"priority": "p2"}}],
}


def build(
    commands: dict[str, Any],
    *,
    include: list[str] = (),
    base: Path = Path("."),  # type: ignore[assignment]
    **kw: Any,
) -> Catalog:
    return Catalog.from_config(commands, include, base, LISTS, plugins=False, **kw)


def error_for(commands: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(ConfigError) as info:
        build(commands, **kw)
    return str(info.value)


def with_changes(**changes: Any) -> dict[str, Any]:
    return {"deploy": {**DEPLOY, **changes}}


def with_arg(index: int, **changes: Any) -> dict[str, Any]:
    args = [dict(a) for a in DEPLOY["args"]]
    args[index].update(changes)
    return with_changes(args=args)


# --- a good command -----------------------------------------------------------------------


def test_yaml_command_becomes_a_full_spec() -> None:
    catalog = build({"deploy": DEPLOY})
    spec = catalog.get("deploy")
    assert spec is not None and catalog.get("ship") is spec and catalog.get("DEPLOY") is spec
    assert spec.timeout == 600.0
    assert spec.runner == RunnerSpec("exec", {"argv": ["deploy", "{service}"]})
    assert [a.name for a in spec.args] == ["service", "env", "version"]
    assert spec.arg("env").type is ArgType.ENUM and spec.arg("env").values == ("dev", "staging", "production")
    assert spec.arg("version").required is False and spec.arg("version").default == "latest"
    assert spec.on_failure == (HookSpec(action="ticket.open", options={"priority": "p2"}),)
    assert spec.channels == ("#ops",)
    assert catalog.names() == ["deploy"] and catalog.callable_names() == ["deploy", "ship"]
    assert catalog.source("deploy") == "opsroom.yaml"


def test_duration_defaults_and_limits_become_seconds() -> None:
    cmd = {
        "summary": "wait",
        "runner": {"type": "exec", "argv": ["sleep"]},
        "args": [{"name": "for", "type": "duration", "default": "15m", "min": "1m", "max": "2h"}],
    }
    spec = build({"wait": cmd}).get("wait")
    assert spec is not None
    a = spec.arg("for")
    assert (a.default, a.min, a.max, a.required) == (900, 60, 7200, False)


# --- validation errors name file, command and key ---------------------------------------


@pytest.mark.parametrize(
    "commands, expected",
    [
        (with_changes(sumary="typo"), "opsroom.yaml: command `deploy`: sumary: unknown key"),
        (with_arg(1, valuez=["x"]), "command `deploy`: args[1].valuez: unknown key"),
        (with_arg(1, values=[]), "command `deploy`: args[1].values: an enum needs `values`"),
        (with_arg(0, choices_from=""), "args[0].choices_from: a choice needs `choices_from`"),
        (
            with_arg(0, choices_from="servicez"),
            "args[0].choices_from: unknown list `servicez` (lists: services) — did you mean `services`?",
        ),
        (with_arg(2, pattern="^(v[0-9"), "args[2].pattern: bad regular expression"),
        (with_arg(1, type="float"), "args[1].type: Input should be 'string', 'enum'"),
        (with_arg(2, required="no"), "args[2].required: Input should be a valid boolean"),
        (with_arg(2, required=True), "args[2].default: a required argument cannot have a default"),
        (with_arg(1, default="prod"), "args[1].default: `env` must be one of dev, staging, production"),
        (with_arg(1, name="Env"), "args[1].name: `Env` must be lowercase"),
        (with_arg(1, name="dry_run"), "args[1].name: `dry_run` is reserved"),
        (with_arg(1, name="service"), "args[1].name: `service` is declared twice"),
        (with_arg(0, required=False), "args[1].required: required positional `env` comes after optional"),
        (
            with_changes(lock="deploy:{service}:{environment}"),
            "lock: `{environment}` is not an argument of this command (arguments: service, env, version)",
        ),
        (with_changes(lock="deploy:{service.__class__}"), "lock: `{service.__class__}` is not a plain"),
        (with_changes(timeout="10 minutes"), "timeout: must be a duration like 90s"),
        (with_changes(timeout=0), "timeout: must be longer than 0s"),
        (with_changes(runner={"argv": ["x"]}), "runner.type: missing"),
        (with_changes(summary=""), "summary: String should have at least 1 character"),
        (with_changes(aliases=["Ship It"]), "aliases[0]: `Ship It` must be lowercase"),
        (with_changes(examples=["ship api dev", "rollout api"]), "examples[1]: should start with `deploy`"),
        (
            with_changes(on_success=[{"command": "status {service}", "action": "x"}]),
            "on_success[0]: give exactly one of `command` or `action`",
        ),
        (with_changes(on_success=[{"command": "status {service}"}]), "on_success[0].command: unknown command `status`"),
        (with_changes(on_success=[{"command": "deploy {svc}"}]), "on_success[0].command: `{svc}` is not an argument"),
        ({"deploy": "not a mapping"}, "command `deploy`: (command): must be a mapping"),
        ({"Deploy": DEPLOY}, "command `Deploy`: name: `Deploy` must be lowercase ASCII"),
    ],
)
def test_bad_commands_are_errors_naming_file_command_and_key(commands: dict[str, Any], expected: str) -> None:
    message = error_for(commands)
    assert expected in message
    assert message.startswith("opsroom.yaml")


def test_all_problems_are_reported_at_once() -> None:
    plain = {**DEPLOY, "aliases": [], "examples": [], "on_success": []}
    commands = {"a": {**plain, "bogus": 1}, "b": {**plain, "timeout": "x"}}
    message = error_for(commands)
    assert "command `a`: bogus: unknown key" in message and "command `b`: timeout" in message
    assert len(message.splitlines()) == 2


def test_duplicate_names_and_aliases_across_commands() -> None:
    rollout = {**DEPLOY, "aliases": ["ship"], "examples": []}
    message = error_for({"deploy": DEPLOY, "rollout": rollout})
    assert "command `rollout`: aliases[0]: `ship` is already used by command `deploy` (opsroom.yaml)" in message


def test_line_numbers_and_duplicate_keys_when_the_main_file_is_at_hand(tmp_path: Path) -> None:
    (tmp_path / "opsroom.yaml").write_text(
        textwrap.dedent("""\
        commands:
          hello:
            summary: hi
            runner: {type: exec, argv: [echo]}
            bogus: 1
          hello:
            summary: hi again
            runner: {type: exec, argv: [echo]}
    """)
    )
    raw = yaml.safe_load((tmp_path / "opsroom.yaml").read_text())["commands"]
    message = error_for(raw, base=tmp_path)
    assert "opsroom.yaml:6: command `hello` is declared twice in this file" in message


# --- include globs --------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_include_globs_are_relative_to_the_config_dir(tmp_path: Path) -> None:
    write(
        tmp_path / "commands" / "a.yaml",
        """\
        commands:
          uptime: {summary: Uptime, runner: {type: exec, argv: [uptime]}, read_only: true}
    """,
    )
    write(
        tmp_path / "commands" / "team" / "b.yaml",
        """\
        commands:
          whoami: {summary: Who am I, runner: {type: exec, argv: [whoami]}}
    """,
    )
    write(tmp_path / "commands" / "empty.yaml", "")
    write(tmp_path / "notes.txt", "not yaml: [")
    catalog = build({"deploy": DEPLOY}, include=["commands/*.yaml", "commands/**/*.yaml"], base=tmp_path)
    assert catalog.names() == ["deploy", "uptime", "whoami"]
    assert catalog.source("whoami") == "commands/team/b.yaml"


def test_include_errors_name_the_included_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path / "cmds" / "bad.yaml",
        """\
        commands:
          uptime:
            summary: Uptime
            runner: {type: exec, argv: [uptime]}
            args: [{name: n, type: int, min: "x"}]
    """,
    )
    message = error_for({}, include=["cmds/*.yaml"], base=tmp_path)
    assert message == "cmds/bad.yaml:2: command `uptime`: args[0].min: must be a whole number"


def test_include_file_with_other_top_level_keys_or_bad_yaml(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "comands: {}\n")
    assert "x.yaml: comands: unknown key" in error_for({}, include=["x.yaml"], base=tmp_path)
    write(tmp_path / "y.yaml", "commands: [\n")
    assert error_for({}, include=["y.yaml"], base=tmp_path).startswith("y.yaml:2: invalid YAML")


def test_include_of_a_missing_plain_file_is_an_error_but_an_empty_glob_is_not(tmp_path: Path) -> None:
    assert "include: `comands.yaml`: no such file" in error_for({}, include=["comands.yaml"], base=tmp_path)
    assert build({}, include=["commands.d/*.yaml"], base=tmp_path).names() == []


def test_duplicate_across_files_names_both(tmp_path: Path) -> None:
    write(
        tmp_path / "c" / "a.yaml",
        """\
        commands:
          ship: {summary: Ship, runner: {type: exec, argv: [x]}}
    """,
    )
    message = error_for({"deploy": DEPLOY}, include=["c/*.yaml"], base=tmp_path)
    assert "c/a.yaml: command `ship`: name: `ship` is already used by command `deploy` (opsroom.yaml)" in message


def test_include_skips_the_main_config_file(tmp_path: Path) -> None:
    write(tmp_path / "opsroom.yaml", "server: {port: 8080}\ncommands: {}\n")
    assert build({}, include=["*.yaml"], base=tmp_path).names() == []


# --- Python API --------------------------------------------------------------------------------


def test_command_decorator_builds_a_python_runner_spec() -> None:
    registry = Registry()

    @command("echo", args=[arg("text", help="what to say")], read_only=True, registry=registry)
    async def echo(ctx: RunContext) -> str:
        """Repeat text back."""
        return str(ctx.args["text"])

    spec = echo.command_spec  # type: ignore[attr-defined]
    assert spec.runner == RunnerSpec("python", {"function": echo})
    assert spec.summary == "Repeat text back." and spec.read_only
    catalog = Catalog.from_config({}, [], Path("."), LISTS, plugins=False, registry=registry)
    assert catalog.get("echo") is spec
    assert catalog.source("echo").endswith("echo")


def test_builtin_has_no_runner_and_is_marked() -> None:
    registry = Registry()
    spec = builtin(
        "help", summary="List commands", args=[arg("command", required=False)], read_only=True, registry=registry
    )
    assert spec.builtin and spec.runner is None
    assert [s.name for _, s in registry.entries()] == ["help"]


def test_python_commands_are_validated_at_declaration() -> None:
    registry = Registry()
    with pytest.raises(ConfigError, match=r"command `bad`: args\[0\].values: an enum needs `values`"):

        @command("bad", summary="x", args=[arg("env", "enum")], registry=registry)
        async def bad(ctx: RunContext) -> None: ...


def test_python_command_clashing_with_yaml_is_an_error() -> None:
    registry = Registry()

    @command("ship", summary="Ship it", registry=registry)
    async def ship(ctx: RunContext) -> None: ...

    message = error_for({"deploy": DEPLOY}, registry=registry)
    assert "`ship` is already used by command `deploy` (opsroom.yaml)" in message


def test_two_modules_registering_one_name_is_an_error() -> None:
    registry = Registry()
    builtin("runs", summary="List runs", registry=registry, source="opsroom.engine")
    with pytest.raises(ConfigError, match="already registered by opsroom.engine"):
        builtin("runs", summary="Mine", registry=registry, source="someplugin")


def test_arg_helper_accepts_duration_strings() -> None:
    a = arg("for", "duration", default="15m", max="2h")
    assert (a.type, a.default, a.max, a.required) == (ArgType.DURATION, 900, 7200, False)


def test_extra_specs_join_the_catalog() -> None:
    spec = CommandSpec("ping", summary="Ping", runner=RunnerSpec("exec", {"argv": ["true"]}))
    assert build({}, extra=[spec]).get("ping") is spec


def test_catalog_constructor_validates_too() -> None:
    spec = CommandSpec("ping", summary="Ping")  # no runner, not builtin
    with pytest.raises(ConfigError, match="runner: missing"):
        Catalog([spec], LISTS)


# --- entry-point plugins ----------------------------------------------------------------------


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, body: str) -> None:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    import importlib.metadata as md

    ep = md.EntryPoint(name=module, value=module, group="opsroom.commands")

    def entry_points(group: str) -> list[Any]:
        if group != "opsroom.commands":
            return []
        return [SimpleNamespace(name=ep.name, value=ep.value, dist=SimpleNamespace(name="acme-ops"), load=ep.load)]

    monkeypatch.setattr(decorators.importlib.metadata, "entry_points", entry_points)


def test_entry_point_plugins_register_their_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registry = Registry()
    monkeypatch.setattr(decorators, "default_registry", registry)
    fake_entry_points(
        monkeypatch,
        tmp_path,
        "acme_ops_cmds",
        """\
        from opsroom.commands import command, arg, decorators

        @command("restart", summary="Restart a pod", args=[arg("pod")], registry=decorators.default_registry)
        async def restart(ctx):
            return "restarted " + ctx.args["pod"]
    """,
    )
    import opsroom.commands.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "default_registry", registry)
    catalog = Catalog.from_config({}, [], Path("."), LISTS, plugins=True)
    spec = catalog.get("restart")
    assert spec is not None and spec.runner is not None and spec.runner.type == "python"
    assert catalog.source("restart") == "acme_ops_cmds.restart"


def test_a_broken_plugin_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_entry_points(monkeypatch, tmp_path, "acme_broken_cmds", "raise RuntimeError('oops')\n")
    with pytest.raises(ConfigError, match=r"plugin `acme_broken_cmds` \(acme-ops\): cannot import.*oops"):
        discover_plugins()


def test_shape_and_catalog_problems_are_reported_in_one_pass(tmp_path: Path) -> None:
    write(
        tmp_path / "c.yaml",
        """\
        commands:
          restart:
            summary: Restart a service
            args:
              - {name: service, type: choice, choices_from: servics}
              - {name: env, type: enum}
            runner: {type: exec, argv: [restart]}
    """,
    )
    lines = error_for({}, include=["c.yaml"], base=tmp_path).splitlines()
    assert lines == [
        "c.yaml:2: command `restart`: args[1].values: an enum needs `values`",
        "c.yaml: command `restart`: args[0].choices_from: unknown list `servics` (lists: services)"
        " — did you mean `services`?",
    ]


def test_greedy_must_be_the_last_positional_string() -> None:
    cmd = {
        "summary": "x",
        "runner": {"type": "exec", "argv": ["x"]},
        "args": [{"name": "words", "greedy": True}, {"name": "more"}],
    }
    assert "args[1].positional: `more` comes after `words`" in error_for({"note": cmd})
    cmd["args"] = [{"name": "n", "type": "int", "greedy": True}]
    assert "args[0].greedy: only a positional string argument" in error_for({"note": cmd})
    cmd["args"] = [
        {"name": "words", "greedy": True, "required": False},
        {"name": "tag", "positional": False, "required": False},
    ]
    spec = build({"note": cmd}).get("note")
    assert spec is not None and spec.arg("words").greedy
