"""A GitLab pipeline is created once: a proxy's 502 after GitLab created it is followed,
never re-sent; a push pipeline or a colleague's on the same ref is never taken for ours."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.integrations.cicd.gitlab import GitLabRunner
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.once import Ambiguous

ARGS = {"ref": "main", "env": "staging"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_TEST_TOKEN", "glpat-test")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "project": "acme/api",
        "ref": "{ref}",
        "variables": {"DEPLOY_ENV": "{env}"},
        "token_env": "GL_TEST_TOKEN",
        "api_url": url,
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        "find_timeout": 2,
        **extra,
    }


async def test_a_502_after_gitlab_created_the_pipeline_follows_it_and_creates_no_second() -> None:
    fake = FakeGitLab()
    fake.add_pipeline(source="push", variables={})  # older: must not count
    fake.fail_after_acting("POST", "/pipeline", 502)
    async with serve(fake.app) as url:
        chunks = await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert len(fake.created) == 1
    assert final(chunks).exit_code == 0
    assert final(chunks).result == f"https://gitlab.example.com/acme/api/-/pipelines/{fake.next_id}"
    assert any("found the pipeline it started" in line for line in progress(chunks))


async def test_a_correlation_variable_tells_ours_from_a_colleagues_identical_pipeline() -> None:
    fake = FakeGitLab()
    fake.fail_after_acting("POST", "/pipeline", 502)
    fake.simultaneous = [{"DEPLOY_ENV": "staging", "OPSROOM_RUN": "opsroom-run-5"}]
    fake.never_finish = True
    async with serve(fake.app) as url:
        runner = GitLabRunner(options(url, correlation_variable="OPSROOM_RUN"))
        with pytest.raises(TimeoutError):  # /cancel or the command's timeout
            async with asyncio.timeout(1):
                await collect(runner, make_ctx(ARGS))
    ours, colleague = sorted(fake.pipelines)
    assert fake.created[0]["variables"] == [
        {"key": "DEPLOY_ENV", "value": "staging"},
        {"key": "OPSROOM_RUN", "value": "opsroom-run-1"},
    ]
    assert fake.pipelines[ours]["status"] == "canceled"
    assert fake.pipelines[colleague]["status"] != "canceled"
    assert fake.called("POST", f"/pipelines/{colleague}/cancel") == []


async def test_without_correlation_two_identical_new_pipelines_are_reported_not_guessed() -> None:
    fake = FakeGitLab()
    fake.fail_after_acting("POST", "/pipeline", 502)
    fake.simultaneous = [{"DEPLOY_ENV": "staging"}]
    async with serve(fake.app) as url:
        with pytest.raises(Ambiguous, match="2 pipelines on main with the same variables"):
            await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert not any(c.path.endswith("/cancel") for c in fake.calls)
    assert len(fake.created) == 1


async def test_gitlab_refusing_pipeline_variables_says_why() -> None:
    fake = FakeGitLab()
    fake.variables_allowed = False
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert str(err.value) == (
        "GitLab refused to create pipelines in acme/api (400): base: Insufficient permissions to set pipeline variables"
    )
