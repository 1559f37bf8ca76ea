"""check_policy: names that match nothing are errors, not silent no-ops."""

from __future__ import annotations

from pathlib import Path

import cedarpy
from policy_helpers import CATALOG, STANDARD, policy_from_yaml

from opsroom.policy import build_schema, check_policy


def problems(yaml_text: str, base: Path = Path(".")) -> list[str]:
    return check_policy(policy_from_yaml(yaml_text), CATALOG, base)


def test_standard_policy_is_clean() -> None:
    assert problems(STANDARD) == []


def test_unknown_command_with_suggestion() -> None:
    assert problems("rules: [{id: r, allow: [deplyo, status], roles: [sre]}]") == [
        "rule r: there is no command 'deplyo' (did you mean deploy?)"
    ]


def test_alias_must_be_the_command_itself() -> None:
    assert problems("rules: [{id: r, deny: ship}]") == ["rule r: 'ship' is an alias of deploy; name the command itself"]


def test_unknown_argument_for_each_named_command() -> None:
    assert problems("rules: [{id: r, allow: [deploy, status], roles: [sre], when: {env: dev}}]") == [
        "rule r: status has no argument 'env'"
    ]
    assert problems("rules: [{id: r, deny: deploy, when: {enviroment: production}}]") == [
        "rule r: deploy has no argument 'enviroment' (did you mean env?)"
    ]
    assert problems("rules: [{id: r, deny: '*', when: {envv: production}}]") == [
        "rule r: no command has an argument 'envv' (did you mean env?)"
    ]


def test_values_must_fit_the_argument() -> None:
    assert problems("rules: [{id: r, deny: deploy, when: {env: prodution}}]") == [
        "rule r: deploy env is one of dev, staging, production; 'prodution' is not (did you mean production?)"
    ]
    assert problems("rules: [{id: r, deny: scale, when: {replicas: ten}}]") == [
        "rule r: scale replicas is a number; 'ten' is not"
    ]
    assert problems("rules: [{id: r, deny: wait, when: {for: 15m}}]") == [
        "rule r: wait for is a number; '15m' is not (durations are compared in seconds)"
    ]
    assert problems("rules: [{id: r, deny: flush, when: {dry_run: 'no'}}]") == [
        "rule r: flush dry_run is true or false; 'no' is neither"
    ]
    assert problems("rules: [{id: r, deny: deploy, when: {service: 3}}]") == [
        "rule r: deploy service is text; write 3 in quotes"
    ]
    assert problems("rules: [{id: r, deny: deploy, when: {service: {max: 3}}}]") == [
        "rule r: deploy service is not a number; min/max only apply to int and duration arguments"
    ]
    ok = "rules: [{id: r, deny: scale, when: {replicas: {min: 2, max: 5}, env: {not: production}}}]"
    assert problems(ok) == []


def write(base: Path, text: str) -> None:
    (base / "p.cedar").write_text(text, encoding="utf-8")


def test_raw_cedar_unknown_action_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, '@id("typo") permit (principal, action == Action::"deplyo", resource);')
    found = problems("files: [p.cedar]", tmp_path)
    assert found and all(p.startswith("p.cedar, policy typo: ") for p in found)
    assert any('unrecognized action `Action::"deplyo"`' in p for p in found)


def test_raw_cedar_unknown_argument_and_missing_has(tmp_path: Path) -> None:
    write(
        tmp_path,
        'permit (principal, action == Action::"deploy", resource)\n'
        '  when { context.args.enviroment == "dev" };\n'
        'permit (principal, action == Action::"status", resource) when { context.args.service == "api" };\n'
        'permit (principal, action == Action::"status", resource)\n'
        '  when { context.args has service && context.args.service == "api" };\n',
    )
    found = problems("files: [p.cedar]", tmp_path)
    assert any(p.startswith("p.cedar, policy p.cedar#1: ") and "enviroment" in p for p in found)
    assert any(p.startswith("p.cedar, policy p.cedar#2: ") and "optional attribute" in p for p in found)
    assert not any("p.cedar#3" in p for p in found)


def test_raw_cedar_type_mistake(tmp_path: Path) -> None:
    write(tmp_path, 'permit (principal, action == Action::"scale", resource)\n  when { context.args.replicas == "3" };')
    assert problems("files: [p.cedar]", tmp_path)


def test_raw_cedar_using_every_context_field_is_valid(tmp_path: Path) -> None:
    write(
        tmp_path,
        "forbid (principal, action, resource) when {\n"
        '  context.channel == "#ops" && context.platform == "web" &&\n'
        "  context.direct && context.known_user &&\n"
        '  context.weekday == "Sat" && context.hour > 1 && context.minute > 1 && context.hhmm > 1 &&\n'
        '  context.date == "2025-12-24" && principal in Role::"sre" && principal in Group::"g" &&\n'
        '  principal == User::"alice" && resource == Channel::"#ops" && !(principal is Guest)\n'
        "};\n"
        # A required argument may be read without `has`; a defaulted one too.
        'permit (principal, action == Action::"deploy", resource) when { context.args.env == "dev" };\n'
        'permit (principal, action == Action::"flush", resource) when { context.args.dry_run };\n',
    )
    assert problems("files: [p.cedar]", tmp_path) == []


def test_config_errors_are_reported_not_raised(tmp_path: Path) -> None:
    write(tmp_path, "permit (principal, action, resource) when { };")
    [only] = problems("files: [p.cedar]", tmp_path)
    assert only.startswith("p.cedar, policy starting at line 1: invalid Cedar")


def test_shorthand_problem_is_reported_once() -> None:
    """The schema check would repeat what the shorthand check said; say it once."""
    found = problems("rules: [{id: r, allow: nope, roles: [sre]}]")
    assert found == ["rule r: there is no command 'nope'"]


def test_schema_is_valid_cedar() -> None:
    cedarpy.Schema.from_str(build_schema(CATALOG))
