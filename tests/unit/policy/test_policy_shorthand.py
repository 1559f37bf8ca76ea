"""The YAML shorthand compiles to readable Cedar that means exactly what the YAML says."""

from __future__ import annotations

import json

import cedarpy
import pytest
from policy_helpers import OPS, USERS, engine_from_yaml, policy_from_yaml, principal

from opsroom.config.policy import PolicyRule
from opsroom.policy import compile_rule, compile_rules
from opsroom.policy.shorthand import cedar_str


def rule(**kwargs: object) -> PolicyRule:
    return PolicyRule.model_validate(kwargs)


def test_full_rule_compiles_to_annotated_cedar() -> None:
    text = compile_rule(
        rule(
            id="developers-nonprod",
            allow=["deploy", "rollback"],
            roles=["developer"],
            when={"env": ["dev", "staging"]},
            channels=["#ops", "#deploys"],
        )
    )
    assert text == (
        '@id("developers-nonprod")\n'
        'permit (principal, action in [Action::"deploy", Action::"rollback"], resource)\n'
        '  when { principal in [Role::"developer"] }\n'
        '  when { context.args has env && ["dev", "staging"].contains(context.args.env) }\n'
        '  when { ["#ops", "#deploys"].contains(context.channel) };\n'
    )


def test_deny_with_reason_and_window() -> None:
    text = compile_rule(rule(id="wknd", deny="deploy", when={"env": "production"}, during="Sat-Sun", reason="not now"))
    assert text == (
        '@id("wknd")\n'
        '@reason("not now")\n'
        'forbid (principal, action == Action::"deploy", resource)\n'
        '  when { context.args has env && context.args.env == "production" }\n'
        '  when { ["Sat", "Sun"].contains(context.weekday) };\n'
    )


def test_everyone_and_every_command() -> None:
    assert compile_rule(rule(id="all", allow="*", users=["*"])) == (
        '@id("all")\npermit (principal, action, resource);\n'
    )


def test_who_combines_roles_groups_and_users_with_or() -> None:
    text = compile_rule(rule(id="w", allow="x", roles=["a", "b"], groups=["g"], users=["u"]))
    assert (
        'when { principal in [Role::"a", Role::"b"] || principal in [Group::"g"] || principal in [User::"u"] }'
    ) in text


def test_typed_values() -> None:
    text = compile_rule(rule(id="t", allow="x", users=["*"], when={"n": 3, "flag": False, "s": "3"}))
    assert "context.args.n == 3 " in text
    assert "context.args.flag == false " in text
    assert 'context.args.s == "3" ' in text


@pytest.mark.parametrize(
    "hostile",
    [
        'prod" || true || "',
        "a\\",
        "line\nbreak",
        'x"}; permit(principal, action, resource); //',
        "tab\tand\x01control\x7f",
        "ünïcødé 😀",
    ],
)
def test_strings_cannot_escape_their_literal(hostile: str) -> None:
    """Whatever a config value holds, it compiles to exactly that string and nothing more."""
    r = rule(
        id="h",
        allow=hostile,
        roles=[hostile],
        when={hostile: hostile},
        channels=[hostile],
        reason="r" if "\n" in hostile else hostile,
    )
    parsed = json.loads(cedarpy.policies_to_json_str(compile_rule(r)))
    assert len(parsed["staticPolicies"]) == 1
    dumped = json.dumps(parsed)
    assert dumped.count(json.dumps(hostile)) >= 4
    alone = f"permit(principal, action, resource) when {{ {cedar_str(hostile)} }};"
    assert json.dumps(hostile) in json.dumps(json.loads(cedarpy.policies_to_json_str(alone)))


def test_argument_names_that_are_not_identifiers_are_quoted() -> None:
    text = compile_rule(rule(id="q", allow="x", users=["*"], when={"dry-run": True, "in": "a"}))
    assert 'context.args has "dry-run" && context.args["dry-run"] == true' in text
    assert 'context.args has "in" && context.args["in"] == "a"' in text
    cedarpy.PolicySet.from_str(text)
    engine = engine_from_yaml("rules: [{id: q, allow: x, users: ['*'], when: {dry-run: true}}]")
    assert engine.decide(principal("carol"), "x", {"dry-run": True}, OPS).allowed
    assert not engine.decide(principal("carol"), "x", {"dry-run": False}, OPS).allowed


def test_compile_rules_joins_in_order() -> None:
    policy = policy_from_yaml("rules: [{id: a, allow: x, users: ['*']}, {id: b, deny: x}]")
    text = compile_rules(policy.rules)
    assert text.index('@id("a")') < text.index('@id("b")')
    assert len(cedarpy.PolicySet.from_str(text)) == 2


def test_deny_without_who_means_everyone() -> None:
    assert "when" not in compile_rule(rule(id="d", deny="x"))
    assert USERS  # users are irrelevant to a who-less deny
