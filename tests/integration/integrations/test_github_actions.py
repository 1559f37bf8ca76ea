"""The github_actions runner against a local fake of GitHub's REST API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.github import FakeGitHub
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.core import ConfigError, RunnerSpec
from opsroom.features import build_runner
from opsroom.integrations.cicd.github_actions import GitHubActionsRunner
from opsroom.integrations.http import IntegrationError

ARGS = {"ref": "main", "env": "staging"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN", "ghp_test")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "repo": "acme/api",
        "workflow": "deploy.yml",
        "ref": "{ref}",
        "inputs": {"environment": "{env}", "note": "from chat"},
        "token_env": "GH_TEST_TOKEN",
        "api_url": url,
        "poll_interval": 0.01,
        "find_timeout": 2,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_dispatch_with_run_details_follows_jobs_and_posts_the_run_url() -> None:
    fake = FakeGitHub()
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert fake.dispatches == [
        {"ref": "main", "inputs": {"environment": "staging", "note": "from chat"}, "return_run_details": True}
    ]
    run_url = f"https://github.com/acme/api/actions/runs/{fake.next_id}"
    assert final(chunks).exit_code == 0
    assert final(chunks).result == run_url
    lines = progress(chunks)
    assert f"run started: {run_url}" in lines
    assert any("build ✓" in line and "deploy in_progress" in line for line in lines)
    # One listing: the snapshot taken before every dispatch (any answer may lack the run id);
    # no search afterwards, since the dispatch answer carried it.
    assert len(fake.called("GET", "/workflows/deploy.yml/runs")) == 1
    # The token went in the header only.
    assert all(c.headers["authorization"] == "Bearer ghp_test" for c in fake.calls)
    assert not any("ghp_test" in c.text for c in chunks)


async def test_without_run_details_finds_the_new_run_not_someone_elses() -> None:
    fake = FakeGitHub()
    fake.run_details = False
    fake.hidden_polls = 2  # the run shows up in lists a little after the dispatch
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url, actor="opsroom-bot")), make_ctx(ARGS))
    assert final(chunks).result == f"https://github.com/acme/api/actions/runs/{fake.next_id}"
    assert "dispatched; looking for the run it started" in progress(chunks)
    assert fake.called("POST", f"/runs/{fake.next_id}/cancel") == []


async def test_older_server_rejecting_run_details_falls_back_to_plain_dispatch() -> None:
    fake = FakeGitHub()
    fake.rejects_run_details = True
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url, return_run_details=False)), make_ctx(ARGS))
        assert final(chunks).exit_code == 0
        fake.calls.clear()
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert final(chunks).exit_code == 0
    sent = [c.json() for c in fake.called("POST", "/dispatches")]
    assert [("return_run_details" in body) for body in sent] == [True, False]


async def test_failed_run_ends_with_nonzero_exit_and_the_url() -> None:
    fake = FakeGitHub()
    fake.conclusion = "failure"
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert final(chunks).exit_code == 1
    assert final(chunks).text.startswith("workflow run failure: https://github.com/acme/api/actions/runs/")


async def test_forbidden_dispatch_says_what_the_token_cannot_do() -> None:
    fake = FakeGitHub()
    fake.forbid_dispatch = True
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert str(err.value).startswith("GitHub says the token cannot dispatch workflows in acme/api (403)")
    assert "ghp_test" not in str(err.value)


async def test_bad_token_is_a_401_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN", "ghp_wrong")
    fake = FakeGitHub()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
    assert "GitHub rejected the credentials" in str(err.value) and "(401)" in str(err.value)
    assert "ghp_wrong" not in str(err.value)


async def test_unknown_workflow_is_a_404() -> None:
    fake = FakeGitHub()
    async with serve(fake.app) as url:
        # The snapshot of runs before the dispatch is the first call to meet the 404.
        with pytest.raises(IntegrationError, match=r"GitHub found nothing to read workflow runs in acme/api \(404\)"):
            await collect(GitHubActionsRunner(options(url, workflow="nope.yml")), make_ctx(ARGS))
    assert fake.dispatches == []


async def test_rate_limit_then_server_errors_are_retried() -> None:
    fake = FakeGitHub()
    fake.fail("POST", "/dispatches", 429, {"message": "API rate limit exceeded"}, headers={"retry-after": "1"})
    fake.fail("GET", "/actions/runs/", 502, {"message": "Server Error"}, times=2)
    async with serve(fake.app) as url:
        started = asyncio.get_running_loop().time()
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS))
        waited = asyncio.get_running_loop().time() - started
    assert final(chunks).exit_code == 0
    assert waited >= 0.95  # Retry-After: 1 was honoured
    assert len(fake.called("POST", "/dispatches")) == 2  # the 429, then the real one


async def test_engine_timeout_cancels_the_run_on_github() -> None:
    fake = FakeGitHub()
    fake.never_finish = True
    async with serve(fake.app) as url:
        runner = build_runner(RunnerSpec("github_actions", options(url)))
        seen: list[str] = []

        async def consume() -> None:
            async for chunk in runner.execute(make_ctx(ARGS)):
                seen.append(chunk.text)

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):
                await consume()
    run_id = fake.next_id
    assert len(fake.called("POST", f"/actions/runs/{run_id}/cancel")) == 1
    assert fake.runs[run_id]["conclusion"] == "cancelled"
    assert any(line.startswith("run started") for line in seen)


async def test_dry_run_calls_nothing() -> None:
    fake = FakeGitHub()
    async with serve(fake.app) as url:
        chunks = await collect(GitHubActionsRunner(options(url)), make_ctx(ARGS, dry_run=True))
    assert fake.calls == []
    assert final(chunks).text == (
        "dry run: would dispatch deploy.yml in acme/api at main with environment=staging, note=from chat"
    )


async def test_a_ref_argument_cannot_escape_into_the_path_or_ref() -> None:
    fake = FakeGitHub()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError, match="not a branch or tag name"):
            await collect(GitHubActionsRunner(options(url)), make_ctx({"ref": "../../x", "env": "prod"}))
        runner = GitHubActionsRunner(options(url, repo="{owner}/api"))
        with pytest.raises(IntegrationError, match="not a GitHub repository name"):
            await collect(runner, make_ctx({**ARGS, "owner": "acme/../../orgs"}))
    assert fake.calls == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"workflow": None}, "'workflow' is required"),
        ({"token_env": None}, "'token_env' is required"),
        ({"worklow": "x"}, "unknown option 'worklow'"),
        ({"api_url": "ftp://x"}, "must be an http:// or https:// URL"),
        ({"poll_interval": "fast"}, "'poll_interval' must be a number"),
    ],
)
def test_bad_options_are_named(bad: dict[str, Any], message: str) -> None:
    opts = {k: v for k, v in {**options("http://127.0.0.1:1"), **bad}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        GitHubActionsRunner(opts)
