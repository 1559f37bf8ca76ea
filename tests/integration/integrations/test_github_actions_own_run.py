"""The github_actions runner dispatches once and follows only the run it started: a gateway
502 after GitHub acted, a 204 with a colleague's run seconds earlier, colleagues dispatching
at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.github import FakeGitHub
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.integrations.cicd.github_actions import GitHubActionsRunner
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.once import Ambiguous

ARGS = {"ref": "main", "env": "staging"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN", "ghp_test")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "repo": "acme/api",
        "workflow": "deploy.yml",
        "ref": "{ref}",
        "inputs": {"environment": "{env}"},
        "token_env": "GH_TEST_TOKEN",
        "api_url": url,
        "poll_interval": 0.01,
        "find_timeout": 3,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_a_gateway_502_after_github_dispatched_starts_nothing_twice() -> None:
    fake = FakeGitHub()
    fake.fail_after_acting("POST", "/dispatches", 502)
    fake.hidden_polls = 2
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert len(fake.dispatches) == 1
    ours = fake.next_id
    assert final(chunks).exit_code == 0
    assert final(chunks).result == f"https://github.com/acme/api/actions/runs/{ours}"
    assert any(
        "GitHub failed to dispatch workflows in acme/api (502)" in line
        and "may have done it anyway; found the run it started" in line
        for line in progress(chunks)
    )


async def test_a_204_never_follows_a_colleagues_run_from_seconds_before() -> None:
    fake = FakeGitHub()
    fake.run_details = False  # 204, as on GitHub Enterprise Server
    # A colleague dispatched 3 s ago; GitHub's listing does not show it yet at our snapshot.
    colleague = fake.colleague_dispatch(seconds_ago=3, hidden_polls=1)
    fake.never_finish = True
    async with serve(fake.app) as url:
        runner = GitHubActionsRunner(options(url))
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in runner.execute(make_ctx(ARGS)):
                seen.append(chunk.text)

        with pytest.raises(TimeoutError):  # the user's /cancel or the command timeout
            async with asyncio.timeout(1.5):
                await follow()
    ours = fake.next_id
    assert ours != colleague
    assert f"run started: https://github.com/acme/api/actions/runs/{ours}" in seen
    assert len(fake.called("POST", f"/runs/{ours}/cancel")) == 1
    assert fake.called("POST", f"/runs/{colleague}/cancel") == []
    assert fake.runs[colleague]["status"] != "completed"


async def test_a_correlation_input_tells_our_run_from_a_simultaneous_one() -> None:
    fake = FakeGitHub()
    fake.run_details = False
    fake.declared_inputs = {"environment", "opsroom_run"}
    fake.run_name_input = "opsroom_run"
    fake.hidden_polls = 1
    async with serve(fake.app) as url:
        fake.simultaneous = ["Deploy opsroom-run-77"]  # and it shows in the list before ours
        chunks = await collect(GitHubActionsRunner(options(url, correlation_input="opsroom_run")), make_ctx(ARGS))
    assert fake.dispatches[0]["inputs"] == {"environment": "staging", "opsroom_run": "opsroom-run-1"}
    ours = next(r for r in fake.runs.values() if r["display_title"] == "Deploy opsroom-run-1")
    assert final(chunks).result == ours["html_url"]


async def test_without_correlation_two_fitting_runs_are_reported_not_guessed() -> None:
    fake = FakeGitHub()
    fake.run_details = False
    fake.hidden_polls = 0
    async with serve(fake.app) as url:
        fake.simultaneous = ["Deploy"]
        with pytest.raises(Ambiguous, match="2 runs of deploy.yml started at the same time") as err:
            await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert "Set correlation_input" in str(err.value)
    assert not any("/cancel" in c.path for c in fake.calls)


async def test_an_undeclared_correlation_input_shows_githubs_reason() -> None:
    fake = FakeGitHub()
    fake.declared_inputs = {"environment"}
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(GitHubActionsRunner(options(url, correlation_input="opsroom_run")), make_ctx(ARGS))
    assert "Unexpected inputs provided: ['opsroom_run']" in str(err.value)
    assert fake.dispatches == []


async def test_the_primary_rate_limit_is_waited_out_and_the_dispatch_still_sent_once() -> None:
    fake = FakeGitHub()
    fake.rate_limit = 3  # requests per second, then 403 with x-ratelimit-remaining: 0
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url, retries=10)), make_ctx(ARGS))
    assert final(chunks).exit_code == 0
    assert fake.rate_limited > 0  # it was hit…
    assert len(fake.dispatches) == 1  # …and the dispatch waited, it was not doubled


async def test_a_cancel_answered_502_is_retried_since_cancelling_twice_is_harmless() -> None:
    fake = FakeGitHub()
    fake.never_finish = True
    fake.fail("POST", "/cancel", 502, {"message": "Server Error"})
    async with serve(fake.app) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    ours = fake.next_id
    assert len(fake.called("POST", f"/runs/{ours}/cancel")) == 2
    assert fake.runs[ours]["conclusion"] == "cancelled"
