"""The policy: section rejects what would be ambiguous or silently wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsroom.config.models import OpsroomConfig
from opsroom.config.policy import PolicyConfig, PolicyRule, ValueRange


def bad(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PolicyRule.model_validate(rule)


def test_single_values_become_lists() -> None:
    rule = PolicyRule.model_validate({"id": "r", "allow": "deploy", "roles": "sre", "during": "Sat-Sun"})
    assert rule.allow == ["deploy"] and rule.roles == ["sre"] and rule.during == ["Sat-Sun"]
    assert rule.effect == "permit" and rule.commands == ["deploy"]


def test_rule_shape_errors() -> None:
    bad({"id": "r", "allow": ["x"], "deny": ["y"], "roles": ["a"]}, "exactly one of allow or deny")
    bad({"id": "r", "roles": ["a"]}, "exactly one of allow or deny")
    bad({"id": "r", "allow": [], "roles": ["a"]}, "at least one command")
    bad({"id": "r", "allow": ["x"]}, "say who it allows")
    bad({"id": "r", "deny": ["x"], "during": "Sat", "outside": "Sun"}, "either during or outside")
    bad({"id": "has space", "deny": ["x"]}, "must start with a letter or digit")
    bad({"id": "r", "deny": ["x"], "reason": "two\nlines"}, "one line")
    bad({"id": "r", "deny": ["x"], "whenn": {}}, "whenn")  # typos are errors
    bad({"id": "r", "deny": ["x"], "when": {"n": {"min": 5, "max": 1}}}, "greater than max")
    bad({"id": "r", "deny": ["x"], "when": {"n": {}}}, "at least one of not, min, max")


def test_value_conditions_keep_their_types() -> None:
    rule = PolicyRule.model_validate(
        {"id": "r", "deny": "x", "when": {"a": 3, "b": True, "c": "3", "d": [1, "x"], "e": {"not": "p"}}}
    )
    assert rule.when["a"] == 3 and rule.when["b"] is True and rule.when["c"] == "3"
    assert rule.when["d"] == [1, "x"]
    assert isinstance(rule.when["e"], ValueRange) and rule.when["e"].not_ == "p"


def test_policy_errors() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        PolicyConfig(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="rule id r is used twice"):
        PolicyConfig.model_validate({"rules": [{"id": "r", "deny": "x"}, {"id": "r", "deny": "y"}]})


def test_configured_only_when_something_is_given() -> None:
    assert not PolicyConfig().configured
    assert PolicyConfig(files=["p/*.cedar"]).configured
    assert OpsroomConfig.model_validate({"policy": {"rules": [{"id": "r", "deny": "x"}]}}).policy.configured
