"""Raw .cedar files: loaded next to the shorthand, ids from @id, errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_helpers import MONDAY_NOON, OPS, USERS, policy_from_yaml, principal

from opsroom.core import ConfigError
from opsroom.policy import PolicyEngine
from opsroom.policy.sources import split_statements

BREAK_GLASS = """
// Break glass: on-call may restart anything, any time, anywhere.
@id("oncall-restart")
permit (principal in Role::"oncall", action == Action::"restart", resource);

@id("no-prod-from-random")
@reason("production changes belong in #ops")
forbid (principal, action in [Action::"deploy", Action::"restart"], resource == Channel::"#random")
when { context.args has env && context.args.env == "production" };

permit (principal == User::"carol", action == Action::"flush", resource)
when { context.args.dry_run };
"""


def write(base: Path, name: str, text: str) -> None:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def engine(base: Path, yaml_text: str = "files: [policies/*.cedar]") -> PolicyEngine:
    return PolicyEngine.from_config(policy_from_yaml(yaml_text), USERS, base)


def test_raw_cedar_file_with_ids(tmp_path: Path) -> None:
    write(tmp_path, "policies/main.cedar", BREAK_GLASS)
    eng = engine(tmp_path)
    oncall = principal("bob").__class__("dan", frozenset({"oncall"}))
    d = eng.decide(oncall, "restart", {"env": "production"}, OPS, MONDAY_NOON)
    assert d.allowed and d.rule_ids == ("oncall-restart",)
    from policy_helpers import RANDOM

    d = eng.decide(oncall, "restart", {"env": "production"}, RANDOM, MONDAY_NOON)
    assert d.reason == "denied by rule no-prod-from-random: production changes belong in #ops"
    # A policy without @id is named after its file and position, for the audit log.
    d = eng.decide(principal("carol"), "flush", {"dry_run": True}, OPS)
    assert d.rule_ids == ("policies/main.cedar#3",)


def test_shorthand_and_files_together(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.cedar", BREAK_GLASS)
    eng = engine(
        tmp_path,
        "files: [policies/*.cedar]\nrules: [{id: sre, allow: restart, roles: [sre]}]",
    )
    assert eng.rule_ids == ("sre", "oncall-restart", "no-prod-from-random", "policies/a.cedar#3")
    assert eng.decide(principal("alice"), "restart", {}, OPS).rule_ids == ("sre",)
    shown = eng.cedar_text()
    assert "// ---- opsroom.yaml policy.rules" in shown and "// ---- policies/a.cedar" in shown


def test_policy_that_fails_to_evaluate_is_skipped_if_permit(tmp_path: Path) -> None:
    """carol's flush rule reads dry_run without `has`: no dry_run, no permit (Cedar skips it)."""
    write(tmp_path, "policies/main.cedar", BREAK_GLASS)
    assert not engine(tmp_path).decide(principal("carol"), "flush", {}, OPS).allowed


def test_forbid_that_fails_to_evaluate_denies(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/p.cedar",
        '@id("all") permit (principal, action, resource);\n'
        '@id("broken-guard") forbid (principal, action, resource)\n'
        '  when { context.args.env == "production" };\n',
    )
    d = engine(tmp_path).decide(principal("alice"), "status", {}, OPS)
    assert not d.allowed
    assert d.rule_ids == ("broken-guard",)
    assert "broken-guard could not be evaluated" in d.reason


def test_bad_cedar_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "policies/good.cedar", "permit (principal, action, resource);\n")
    write(
        tmp_path,
        "policies/bad.cedar",
        '// fine so far; a ";" inside a comment does not count\n'
        '@id("ok") permit (principal, action, resource) when { "a;b" == "a;b" };\n\n'
        "forbid (principal, action, resource)\n  when { context.args.env == };\n",
    )
    where = r"^policies/bad\.cedar, policy starting at line 4: invalid Cedar: unexpected token"
    with pytest.raises(ConfigError, match=where):
        engine(tmp_path)


def test_unknown_function_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "p.cedar", "permit (principal, action, resource) when { nope(1) };")
    with pytest.raises(ConfigError, match=r"^p\.cedar, policy starting at line 1: .*nope"):
        engine(tmp_path, "files: [p.cedar]")


def test_missing_named_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy.files: extra.cedar not found"):
        engine(tmp_path, "files: [extra.cedar]")


def test_duplicate_ids_are_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "policies/a.cedar", '@id("sre") permit (principal, action, resource);')
    both = "policy id sre is used in opsroom.yaml policy.rules and in policies/a.cedar"
    with pytest.raises(ConfigError, match=both):
        engine(tmp_path, "files: [policies/*.cedar]\nrules: [{id: sre, allow: x, roles: [sre]}]")
    write(tmp_path, "policies/a.cedar", '@id("x") permit (principal, action, resource);\n' * 2)
    with pytest.raises(ConfigError, match="policy id x is used twice in policies/a.cedar"):
        engine(tmp_path)


def test_bad_annotation_ids_and_templates(tmp_path: Path) -> None:
    write(tmp_path, "a.cedar", '@id("two words") permit (principal, action, resource);')
    with pytest.raises(ConfigError, match=r"a\.cedar: @id\('two words'\) must start"):
        engine(tmp_path, "files: [a.cedar]")
    write(tmp_path, "a.cedar", "permit (principal == ?principal, action, resource);")
    with pytest.raises(ConfigError, match="templates"):
        engine(tmp_path, "files: [a.cedar]")


def test_bad_time_window_names_the_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="opsroom.yaml policy.rules, rule w: 'Funday'"):
        engine(tmp_path, "rules: [{id: w, deny: x, during: Funday}]")


def test_split_statements_ignores_strings_and_comments() -> None:
    text = 'a "x;y" ;\n// c;\n\n  b \\n;\n"unterminated'
    assert [line for line, _ in split_statements(text)] == [1, 4, 5]
