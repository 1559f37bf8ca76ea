"""Jira, ServiceNow and GitHub Issues providers against local fakes of their REST APIs
(tests/fakes/{jira,servicenow,github_issues}.py cite the docs each shape came from)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.github_issues import FakeGitHubIssues
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow

from opsroom.config.tickets import GitHubIssuesConfig, JiraConfig, ServiceNowConfig
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.tickets.base import ChangeRefused, NewTicket, TicketError, TicketNotFound
from opsroom.integrations.tickets.change import check_change
from opsroom.integrations.tickets.github_issues import GitHubIssues
from opsroom.integrations.tickets.jira import JiraTickets
from opsroom.integrations.tickets.servicenow import ServiceNowTickets

FAST = {"retries": 3, "retry_backoff": 0.01, "timeout": 5}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_JIRA_EMAIL", "bot@example.com")
    monkeypatch.setenv("T_JIRA_TOKEN", "jira-token")
    monkeypatch.setenv("T_SN_USER", "opsroom")
    monkeypatch.setenv("T_SN_PASSWORD", "sn-pass")
    monkeypatch.setenv("T_GH_TOKEN", "ghp_issues")


def jira(url: str, **extra: Any) -> JiraTickets:
    return JiraTickets(
        JiraConfig(
            type="jira",
            url=url,
            email_env="T_JIRA_EMAIL",
            token_env="T_JIRA_TOKEN",
            project="OPS",
            **{**FAST, **extra},
        )
    )


def servicenow(url: str) -> ServiceNowTickets:
    return ServiceNowTickets(
        ServiceNowConfig(type="servicenow", url=url, username_env="T_SN_USER", password_env="T_SN_PASSWORD", **FAST)
    )


def github(url: str) -> GitHubIssues:
    return GitHubIssues(GitHubIssuesConfig(type="github", url=url, repo="acme/ops", token_env="T_GH_TOKEN", **FAST))


NEW = NewTicket(
    title="rollback of api shipped",
    body="alice ran /rollback api\nexit 0",
    priority="p2",
    author="alice",
    thread_link="https://chat.example.com/ops/p1",
)


async def test_jira_cloud_create_comment_close() -> None:
    fake = FakeJira()
    async with serve(fake.app) as url:
        provider = jira(url)
        ticket = await provider.create(NEW)
        assert ticket.id == "OPS-101" and ticket.url == f"{url}/browse/OPS-101"
        sent = fake.issues["OPS-101"]["fields"]
        assert sent["priority"] == {"name": "High"} and sent["issuetype"] == {"name": "Task"}
        assert sent["description"]["type"] == "doc"  # v3 takes Atlassian Document Format
        assert fake.links["OPS-101"] == [{"url": "https://chat.example.com/ops/p1", "title": "Chat thread (opsroom)"}]
        await provider.comment("ops-101", "restarted the pods", author="bob")
        assert fake.comments["OPS-101"][0]["content"][0]["content"][0]["text"] == "bob: restarted the pods"
        closed = await provider.close("OPS-101", resolution="fixed", author="bob")
        assert closed.closed and closed.status == "Done"
        assert (await provider.get("OPS-101")).title == "rollback of api shipped"


async def test_jira_server_uses_v2_and_a_bearer_token() -> None:
    fake = FakeJira()
    async with serve(fake.app) as url:
        provider = JiraTickets(
            JiraConfig(type="jira", url=url, edition="server", token_env="T_JIRA_TOKEN", project="OPS", **FAST)
        )
        ticket = await provider.create(NEW)
        assert fake.calls[0].path == "/rest/api/2/issue"
        assert fake.calls[0].headers["authorization"] == "Bearer jira-token"
        assert fake.issues[ticket.id]["fields"]["description"].startswith("alice ran /rollback api")


async def test_jira_close_without_the_transition_says_which_exist() -> None:
    fake = FakeJira()
    async with serve(fake.app) as url:
        provider = jira(url, close_transition="Resolve")
        ticket = await provider.create(NEW)
        with pytest.raises(TicketError, match="no transition 'Resolve'.*available: Start progress, Done"):
            await provider.close(ticket.id)


async def test_servicenow_incident_lifecycle() -> None:
    fake = FakeServiceNow()
    async with serve(fake.app) as url:
        provider = servicenow(url)
        ticket = await provider.create(NEW)
        assert ticket.id == "INC0010001" and ticket.status == "New" and ticket.priority == "2"
        record = next(iter(fake.tables["incident"].values()))
        assert (record["impact"], record["urgency"]) == ("1", "2")
        assert record["_work_notes"] == ["Chat thread: https://chat.example.com/ops/p1"]
        await provider.comment(ticket.id, "pods restarted", author="bob")
        closed = await provider.close(ticket.id, resolution="rolled back", author="bob")
        assert closed.closed and closed.status == "Resolved"
        assert record["close_code"] == "Solution provided" and record["close_notes"] == "rolled back (bob)"
        with pytest.raises(TicketNotFound, match="there is no incident INC0099999"):
            await provider.get("INC0099999")
        with pytest.raises(TicketNotFound, match="not a ServiceNow incident number"):
            await provider.get("INC1^ORnumber!=x")


def _sn_time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


async def test_servicenow_change_review() -> None:
    fake = FakeServiceNow()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    hour = dt.timedelta(hours=1)
    ok = fake.add_change(approval="approved", state="-1", start=_sn_time(now - hour), end=_sn_time(now + hour))
    pending = fake.add_change(approval="requested", state="-3", start=_sn_time(now - hour), end=_sn_time(now + hour))
    later = fake.add_change(
        approval="approved", state="-2", start=_sn_time(now + 2 * hour), end=_sn_time(now + 3 * hour)
    )
    over = fake.add_change(approval="approved", state="-1", start=_sn_time(now - 3 * hour), end=_sn_time(now - hour))
    closed = fake.add_change(approval="approved", state="3", start=_sn_time(now - hour), end=_sn_time(now + hour))
    async with serve(fake.app) as url:
        provider = servicenow(url)
        change = await check_change(provider, ok.lower(), now=now)
        assert change.approved and change.state == "Implement"
        with pytest.raises(ChangeRefused, match=rf"change {pending} is not approved \(approval: requested\)"):
            await check_change(provider, pending, now=now)
        with pytest.raises(ChangeRefused, match=rf"change {later} is approved for .* its window opens in 2 h"):
            await check_change(provider, later, now=now)
        with pytest.raises(ChangeRefused, match=rf"change {over}'s window closed at"):
            await check_change(provider, over, now=now)
        with pytest.raises(ChangeRefused, match=rf"change {closed} is in state 'Closed'"):
            await check_change(provider, closed, now=now)
        with pytest.raises(ChangeRefused, match="CHG0000001 was not found"):
            await check_change(provider, "CHG0000001", now=now)


async def test_github_issue_lifecycle() -> None:
    fake = FakeGitHubIssues()
    async with serve(fake.app) as url:
        provider = github(url)
        ticket = await provider.create(NEW)
        assert ticket.id == "42" and ticket.ref == "#42" and ticket.priority == "p2"
        assert [label["name"] for label in fake.issues[42]["labels"]] == ["opsroom", "priority:p2"]
        assert fake.calls[0].headers["x-github-api-version"] == "2022-11-28"
        await provider.comment("#42", "pods restarted", author="bob")
        closed = await provider.close("42", resolution="rolled back", author="bob")
        assert closed.closed and fake.issues[42]["state_reason"] == "completed"
        shown = await provider.get("42")
        assert [c.body for c in shown.comments] == [
            "**bob** (via opsroom): pods restarted",
            "**bob** (via opsroom): rolled back",
        ]
        with pytest.raises(TicketNotFound, match="there is no issue #7 in acme/ops"):
            await provider.get("7")


VENDORS = [
    ("jira", FakeJira, jira, "/rest/api/3/issue", "Jira"),
    ("servicenow", FakeServiceNow, servicenow, "/api/now/table/incident", "ServiceNow"),
    ("github", FakeGitHubIssues, github, "/repos/acme/ops/issues", "GitHub"),
]


@pytest.mark.parametrize(("name", "fake_cls", "make", "path", "vendor"), VENDORS, ids=[v[0] for v in VENDORS])
async def test_bad_credentials_are_a_clear_error_without_the_secret(
    name: str, fake_cls: Any, make: Any, path: str, vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("T_JIRA_TOKEN", "T_SN_PASSWORD", "T_GH_TOKEN"):
        monkeypatch.setenv(var, "wrong-secret-value")
    fake = fake_cls()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await make(url).create(NEW)
    assert err.value.status == 401
    assert str(err.value).startswith(f"{vendor} rejected the credentials")
    assert "wrong-secret-value" not in str(err.value)
    assert len(fake.calls) == 1  # a 401 is not retried


@pytest.mark.parametrize(("name", "fake_cls", "make", "path", "vendor"), VENDORS, ids=[v[0] for v in VENDORS])
async def test_rate_limit_with_retry_after_is_retried(
    name: str, fake_cls: Any, make: Any, path: str, vendor: str
) -> None:
    fake = fake_cls()
    fake.fail("POST", path, 429, {"message": "slow down"}, headers={"Retry-After": "1"}, times=2)
    async with serve(fake.app) as url:
        started = time.monotonic()
        ticket = await make(url).create(NEW)
    assert ticket.id
    assert time.monotonic() - started >= 2.0  # Retry-After was honoured, twice
    assert len([c for c in fake.calls if c.method == "POST" and c.path == path]) == 3


@pytest.mark.parametrize(("name", "fake_cls", "make", "path", "vendor"), VENDORS, ids=[v[0] for v in VENDORS])
async def test_a_gateway_5xx_after_the_ticket_was_made_finds_it_instead_of_a_second(
    name: str, fake_cls: Any, make: Any, path: str, vendor: str
) -> None:
    fake = fake_cls()
    fake.fail_after_acting("POST", path, 502)
    async with serve(fake.app) as url:
        ticket = await make(url).create(NEW)
    assert len([c for c in fake.calls if c.method == "POST" and c.path == path]) == 1
    made = fake.tables["incident"] if name == "servicenow" else fake.issues
    assert len(made) == 1  # exactly one ticket, and it is the one we report
    ((key, record),) = made.items()
    assert ticket.id == str(record.get("number", key))
    assert ticket.title == NEW.title and "opsroom:" not in ticket.body


@pytest.mark.parametrize(("name", "fake_cls", "make", "path", "vendor"), VENDORS, ids=[v[0] for v in VENDORS])
async def test_a_5xx_before_anything_was_made_is_reported_not_repeated(
    name: str, fake_cls: Any, make: Any, path: str, vendor: str
) -> None:
    fake = fake_cls()
    fake.fail("POST", path, 500, {"message": "boom"}, times=10)
    async with serve(fake.app) as url:
        provider = make(url)
        provider.cfg = provider.cfg.model_copy(update={"timeout": 0.5})
        with pytest.raises(IntegrationError, match=rf"{vendor} failed to .* \(500\) after 1 attempt\(s\)") as err:
            await provider.create(NEW)
    assert "may have done it anyway; opsroom looked for it for 0.5s, found nothing, and did not start it again" in str(
        err.value
    )
    assert len([c for c in fake.calls if c.method == "POST" and c.path == path]) == 1


async def test_jira_404_means_no_such_issue() -> None:
    fake = FakeJira()
    async with serve(fake.app) as url:
        with pytest.raises(TicketNotFound, match="there is no Jira issue OPS-9"):
            await jira(url).comment("OPS-9", "hello")
        with pytest.raises(TicketNotFound, match="not a Jira issue key"):
            await jira(url).get("../../admin")
