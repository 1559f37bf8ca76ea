"""The incident rules, held by a state-machine property test: statuses move forward or re-open
after resolution, the final status ends it, milestones stay in order, one lead at a time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import ValidationError

from opsroom.config.incidents import MILESTONES, IncidentsConfig
from opsroom.incidents.lifecycle import (
    IncidentRuleError,
    IncidentState,
    assign_role,
    change_status,
    declare,
    durations,
    lead_role,
)

CONFIG = IncidentsConfig()
T0 = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
STATUSES = [s.name for s in CONFIG.statuses]
PEOPLE = ["alice", "bob", "carol", None]


class IncidentMachine(RuleBasedStateMachine):
    state: IncidentState
    now: dt.datetime

    @initialize(
        severity=st.sampled_from(["sev1", "sev2", "sev3", "sev4"]),
        back=st.integers(0, 3600),
        lead=st.sampled_from(PEOPLE),
    )
    def declare(self, severity: str, back: int, lead: str | None) -> None:
        self.now = T0
        self.state = declare(CONFIG, severity, T0, started_at=T0 - dt.timedelta(seconds=back), lead=lead)
        self.closed = False

    @rule(to=st.sampled_from(STATUSES), minutes=st.integers(0, 90))
    def move(self, to: str, minutes: int) -> None:
        self.now += dt.timedelta(minutes=minutes)
        before = self.state
        try:
            self.state = change_status(CONFIG, self.state, to, self.now)
        except IncidentRuleError:
            here, there = STATUSES.index(before.status), STATUSES.index(to)
            allowed_back = there < here and here >= STATUSES.index("resolved") and before.status != "closed"
            assert before.status == "closed" or there == here or (there < here and not allowed_back)
            return
        assert not self.closed, "nothing moves after closed"
        here, there = STATUSES.index(before.status), STATUSES.index(to)
        assert there > here or here >= STATUSES.index("resolved"), "re-open only after resolution"
        self.closed = to == "closed"

    @rule(role=st.sampled_from(["commander", "comms", "scribe"]), person=st.sampled_from(PEOPLE))
    def assign(self, role: str, person: str | None) -> None:
        self.state = assign_role(CONFIG, self.state, role, person)
        assert self.state.roles.get(role) == person

    @invariant()
    def milestones_in_order_and_after_the_start(self) -> None:
        stamped = [self.state.milestones[m] for m in MILESTONES if m in self.state.milestones]
        assert stamped == sorted(stamped)
        assert all(t >= self.state.started_at for t in stamped)
        reached = STATUSES.index(self.state.status)
        for status in CONFIG.statuses:
            if status.milestone:
                assert (status.milestone in self.state.milestones) == (STATUSES.index(status.name) <= reached)

    @invariant()
    def one_lead_at_most(self) -> None:
        assert sum(1 for role in self.state.roles if role == lead_role(CONFIG)) <= 1


IncidentMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
TestIncidentRules = IncidentMachine.TestCase


def test_skipping_ahead_stamps_every_milestone_it_passes_and_durations_follow() -> None:
    state = declare(CONFIG, "sev2", T0, started_at=T0 - dt.timedelta(minutes=5), lead="alice")
    state = change_status(CONFIG, state, "resolved", T0 + dt.timedelta(minutes=30))
    assert set(state.milestones) == {"acknowledged", "mitigated", "resolved"}
    assert durations(state) == {"acknowledged": 2100.0, "mitigated": 2100.0, "resolved": 2100.0}
    reopened = change_status(CONFIG, state, "identified", T0 + dt.timedelta(minutes=40))
    assert set(reopened.milestones) == {"acknowledged"}  # resolution is measured again


@pytest.mark.parametrize(
    "action, says",
    [
        (lambda s: change_status(CONFIG, s, "investigating", T0), "already investigating"),
        (lambda s: change_status(CONFIG, s, "paused", T0), "unknown status 'paused'"),
        (lambda s: assign_role(CONFIG, s, "ceo", "bob"), "unknown role 'ceo'"),
        (
            lambda s: change_status(CONFIG, change_status(CONFIG, s, "monitoring", T0), "identified", T0),
            "re-opens only once it is resolved",
        ),
        (lambda s: change_status(CONFIG, change_status(CONFIG, s, "closed", T0), "resolved", T0), "declare a new one"),
    ],
)
def test_refusals_are_sentences(action: object, says: str) -> None:
    state = declare(CONFIG, "sev3", T0)
    with pytest.raises(IncidentRuleError, match=says):
        action(state)  # type: ignore[operator]


def test_a_start_in_the_future_or_an_unknown_severity_is_refused() -> None:
    with pytest.raises(IncidentRuleError, match="future"):
        declare(CONFIG, "sev1", T0, started_at=T0 + dt.timedelta(minutes=1))
    with pytest.raises(IncidentRuleError, match="unknown severity 'sev9'"):
        declare(CONFIG, "sev9", T0)


@pytest.mark.parametrize(
    "raw, says",
    [
        ({"roles": [{"name": "a"}, {"name": "b"}]}, "exactly one role is the lead (found 0)"),
        ({"roles": [{"name": "a", "lead": True}, {"name": "b", "lead": True}]}, "found 2"),
        ({"statuses": [{"name": "open", "initial": True}, {"name": "done"}]}, "exactly one status is final"),
        (
            {
                "statuses": [
                    {"name": "open", "initial": True},
                    {"name": "x", "milestone": "resolved"},
                    {"name": "y", "milestone": "acknowledged"},
                    {"name": "done", "final": True},
                ]
            },
            "in order",
        ),
        ({"severities": [{"name": "p1"}, {"name": "p1"}]}, "names must be unique"),
    ],
)
def test_a_config_that_breaks_the_rules_is_refused(raw: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        IncidentsConfig.model_validate(raw)
    assert says in str(refused.value)
