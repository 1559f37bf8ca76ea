"""Approval and confirmation requirements from policy rules and command options, and who
may approve (the unit-level rules behind the chat flow)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from opsroom.config.guardrails import GuardrailsConfig
from opsroom.config.policy import PolicyConfig
from opsroom.core import ArgSpec, CommandSpec, ConfigError, Place, Principal, Requirement
from opsroom.guardrails import approvals as book
from opsroom.policy import PolicyEngine
from opsroom.policy.requirements import command_requirements, typed_target

OPS = Place("slack", "C1", channel_name="#ops")
ALICE = Principal("alice", frozenset({"sre"}), groups=frozenset({"payments"}))
CAROL = Principal("carol", frozenset({"sre-lead"}))
ERIN = Principal("erin", frozenset({"sre-lead"}), groups=frozenset({"payments"}))
BOB = Principal("bob", frozenset({"developer"}))
STRANGER = Principal.anonymous("slack", "U0NEW")


def engine(rules: list[dict[str, object]]) -> PolicyEngine:
    return PolicyEngine.from_config(PolicyConfig.model_validate({"rules": rules}), {}, Path("."))


RULES = [
    {"id": "sre-all", "allow": ["deploy", "restart"], "roles": ["sre"]},
    {
        "id": "prod-approval",
        "allow": "deploy",
        "roles": ["sre"],
        "when": {"env": "production"},
        "require_approval": {
            "count": 1,
            "roles": ["sre-lead"],
            "expires": "45m",
            "allow_requester_team": False,
        },
    },
    {
        "id": "prod-typed",
        "allow": "restart",
        "roles": ["sre"],
        "when": {"env": "production"},
        "confirm": "typed",
    },
]


def test_a_rule_that_allows_brings_its_requirements_even_when_another_rule_also_allows() -> None:
    decision = engine(RULES).decide(ALICE, "deploy", {"service": "api", "env": "production"}, OPS)
    assert decision.allowed and set(decision.rule_ids) == {"sre-all", "prod-approval"}
    [req] = decision.requires
    assert (req.kind, req.count, req.roles, req.expires, req.allow_requester_team, req.rule_id) == (
        "approval",
        1,
        ("sre-lead",),
        2700,
        False,
        "prod-approval",
    )
    staging = engine(RULES).decide(ALICE, "deploy", {"service": "api", "env": "staging"}, OPS)
    assert staging.allowed and staging.requires == ()


def test_typed_confirmation_names_the_first_argument_unless_told() -> None:
    [req] = engine(RULES).decide(ALICE, "restart", {"service": "payments", "env": "production"}, OPS).requires
    spec = CommandSpec("restart", args=(ArgSpec("service"), ArgSpec("env")))
    assert typed_target(req, spec, {"service": "payments", "env": "production"}) == ("service", "payments")
    named = Requirement("confirmation", detail="typed:env")
    assert typed_target(named, spec, {"service": "payments", "env": "production"}) == ("env", "production")
    assert typed_target(Requirement("confirmation"), spec, {}) is None


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"id": "x", "deny": "deploy", "require_approval": {"roles": ["a"]}}, "belong on allow rules"),
        (
            {"id": "x", "allow": "deploy", "users": ["*"], "require_approval": {"count": 1}},
            "say who may approve",
        ),
        (
            {
                "id": "x",
                "allow": "deploy",
                "users": ["*"],
                "require_approval": {"roles": ["a"], "expires": "soon"},
            },
            "not a duration",
        ),
        ({"id": "x", "allow": "deploy", "users": ["*"], "confirm": "maybe"}, "confirm"),
    ],
)
def test_bad_requirements_are_config_errors(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PolicyConfig.model_validate({"rules": [rule]})


def test_command_options_carry_requirements_and_are_checked() -> None:
    spec = CommandSpec(
        "drop",
        options={
            "confirm": {"typed": "table"},
            "output": "private",
            "approval": {"count": 2, "users": ["carol", "dave"]},
            "other": 1,
        },
    )
    approval, confirm = command_requirements(spec)
    assert approval.count == 2 and approval.users == ("carol", "dave") and approval.rule_id == "command:drop"
    assert confirm.detail == "typed:table"
    with pytest.raises(ConfigError, match="command `bad`: options: output"):
        command_requirements(CommandSpec("bad", options={"output": "public"}))


def hold(req: Requirement, requester: str = "alice") -> book.Hold:
    now = dt.datetime.now(dt.UTC)
    return book.Hold(1, "approval", "pending", "f" * 64, requester, (req,), {}, now, now)


APPROVAL = Requirement("approval", count=1, roles=("sre-lead",), allow_requester_team=False)


def test_who_may_approve() -> None:
    assert book.refusal(CAROL, hold(APPROVAL), ALICE) is None
    assert "someone else" in str(book.refusal(ALICE, hold(Requirement("approval", roles=("sre",))), ALICE))
    assert "not an approver" in str(book.refusal(BOB, hold(APPROVAL), ALICE))
    assert "not an approver" in str(book.refusal(STRANGER, hold(APPROVAL), ALICE))
    assert "share team payments" in str(book.refusal(ERIN, hold(APPROVAL), ALICE))
    team_ok = Requirement("approval", count=1, roles=("sre-lead",))
    assert book.refusal(ERIN, hold(team_ok), ALICE) is None
    by_name = Requirement("approval", count=1, users=("bob",))
    assert book.refusal(BOB, hold(by_name), ALICE) is None


class Directory:
    def __init__(self, *people: Principal) -> None:
        self.people = {p.name: p for p in people}

    def get(self, name: str) -> Principal | None:
        return self.people.get(name)


def vote(voter: str, fingerprint: str = "f" * 64, kind: str = "approve") -> book.Vote:
    return book.Vote(voter, kind, fingerprint, "", dt.datetime.now(dt.UTC))


def test_tally_counts_only_eligible_votes_on_this_fingerprint() -> None:
    two = hold(Requirement("approval", count=2, roles=("sre-lead",)))
    people = Directory(ALICE, CAROL, ERIN, BOB, Principal("dave", frozenset({"sre-lead"})))
    assert not book.tally(two, [vote("carol"), vote("bob"), vote("alice")], people, ALICE).satisfied
    assert not book.tally(two, [vote("carol"), vote("dave", "0" * 64)], people, ALICE).satisfied
    assert not book.tally(two, [vote("carol"), vote("dave", kind="deny")], people, ALICE).satisfied
    done = book.tally(two, [vote("carol"), vote("dave")], people, ALICE)
    assert done.satisfied and done.progress == "2 of 2 from role sre-lead"


def test_guardrails_config_rejects_nonsense() -> None:
    with pytest.raises(ValidationError, match="either from/until dates or every"):
        GuardrailsConfig.model_validate({"freezes": {"windows": [{"name": "x"}]}})
    with pytest.raises(ValidationError, match="is not a day"):
        GuardrailsConfig.model_validate({"freezes": {"windows": [{"name": "x", "every": "Frii"}]}})
    with pytest.raises(ValidationError, match="not a duration"):
        GuardrailsConfig.model_validate({"rate_limits": [{"limit": 5, "window": "ten minutes"}]})
    with pytest.raises(ValidationError, match="redaction pattern"):
        GuardrailsConfig.model_validate({"redaction": {"patterns": ["("]}})
    with pytest.raises(ValidationError, match="extra"):
        GuardrailsConfig.model_validate({"break_glas": {}})
