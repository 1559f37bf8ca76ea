"""Jira refusals reach chat with Jira's reason, and what opsroom sends keeps Jira's rules
(tests/fakes/jira.py enforces them as Jira Cloud does)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.jira import FakeJira

from opsroom.config.tickets import JiraConfig
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.tickets.base import NewTicket
from opsroom.integrations.tickets.jira import JiraTickets


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_JIRA_EMAIL", "bot@example.com")
    monkeypatch.setenv("T_JIRA_TOKEN", "jira-token")


def jira(url: str, **extra: Any) -> JiraTickets:
    return JiraTickets(
        JiraConfig(
            type="jira",
            url=url,
            email_env="T_JIRA_EMAIL",
            token_env="T_JIRA_TOKEN",
            project="OPS",
            retries=1,
            retry_backoff=0.01,
            timeout=5,
            **extra,
        )
    )


async def test_a_multiline_overlong_hook_title_and_spaced_labels_are_made_valid() -> None:
    fake = FakeJira()
    title = "deploy api failed:\nTraceback (most recent call last):\n" + "x" * 400  # {output_tail}
    async with serve(fake.app) as url:
        ticket = await jira(url, labels=["on call"]).create(
            NewTicket(title=title, labels=("team payments",), priority="p1")
        )
    fields = fake.issues[ticket.id]["fields"]
    assert "\n" not in fields["summary"] and len(fields["summary"]) == 255
    assert fields["summary"].startswith("deploy api failed: Traceback (most recent call last): xxx")
    assert {"on-call", "team-payments"} <= set(fields["labels"])


async def test_without_priority_on_the_create_screen_an_empty_mapping_sends_none() -> None:
    fake = FakeJira()
    fake.priority_on_screen = False
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await jira(url).create(NewTicket(title="disk full", priority="p2"))
        ticket = await jira(url, priorities={}).create(NewTicket(title="disk full", priority="p2"))
    # Jira's own reason reaches chat, not a bare "Jira refused … (400)".
    assert str(err.value) == (
        "Jira refused to create issues in project OPS (400): priority: Field 'priority' cannot be set. "
        "It is not on the appropriate screen, or unknown."
    )
    assert "priority" not in fake.issues[ticket.id]["fields"]
    assert len(fake.issues) == 1


async def test_jira_error_messages_are_shown() -> None:
    fake = FakeJira()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await JiraTickets(
                JiraConfig(type="jira", url=url, email_env="T_JIRA_EMAIL", token_env="T_JIRA_TOKEN", project="NOPE")
            ).create(NewTicket(title="x"))
    assert str(err.value) == "Jira refused to create issues in project NOPE (400): project: valid project is required"


async def test_servicenow_and_github_refusals_carry_their_reason() -> None:
    from tests.fakes.github_issues import FakeGitHubIssues
    from tests.fakes.servicenow import FakeServiceNow

    from opsroom.config.tickets import GitHubIssuesConfig, ServiceNowConfig
    from opsroom.integrations.tickets.github_issues import GitHubIssues
    from opsroom.integrations.tickets.servicenow import ServiceNowTickets

    sn, gh = FakeServiceNow(), FakeGitHubIssues()
    sn.insert_denied = True
    async with serve(sn.app) as sn_url, serve(gh.app) as gh_url:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("T_SN_USER", "opsroom")
            env.setenv("T_SN_PASSWORD", "sn-pass")
            env.setenv("T_GH_TOKEN", "ghp_issues")
            snow = ServiceNowTickets(
                ServiceNowConfig(type="servicenow", url=sn_url, username_env="T_SN_USER", password_env="T_SN_PASSWORD")
            )
            with pytest.raises(IntegrationError) as refused:
                await snow.create(NewTicket(title="disk full"))
            issues = GitHubIssues(
                GitHubIssuesConfig(type="github", url=gh_url, repo="acme/ops", token_env="T_GH_TOKEN")
            )
            with pytest.raises(IntegrationError) as invalid:
                await issues.create(NewTicket(title="  \n "))
    assert str(refused.value) == (
        "ServiceNow says the token cannot create incident records (403): "
        "Operation Failed: ACL Exception Insert Failed due to security constraints"
    )
    assert (
        str(invalid.value)
        == "GitHub refused to create issues in acme/ops (422): Validation Failed: title missing_field"
    )
    assert sn.tables["incident"] == {} and gh.issues == {}
