"""The gitlab runner against a local fake of GitLab's REST API v4."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.core import ConfigError
from opsroom.integrations.cicd.gitlab import GitLabRunner
from opsroom.integrations.http import IntegrationError

ARGS = {"ref": "main", "env": "staging"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_TEST_TOKEN", "glpat-test")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "project": "acme/api",
        "ref": "{ref}",
        "variables": {"DEPLOY_ENV": "{env}", "DRY": False},
        "token_env": "GL_TEST_TOKEN",
        "api_url": url,
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_pipeline_with_variables_is_followed_to_success() -> None:
    fake = FakeGitLab()
    async with serve(fake.app) as url:
        chunks = await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert fake.created == [
        {
            "ref": "main",
            "variables": [{"key": "DEPLOY_ENV", "value": "staging"}, {"key": "DRY", "value": "false"}],
        }
    ]
    web = f"https://gitlab.example.com/acme/api/-/pipelines/{fake.next_id}"
    assert final(chunks).exit_code == 0 and final(chunks).result == web
    assert any("build success · deploy" in line for line in progress(chunks))
    # The project path travels URL-encoded, as one path segment.
    assert all(b"/projects/acme%2Fapi/" in raw for raw in fake.raw_paths)


async def test_failed_pipeline_is_a_failed_run() -> None:
    fake = FakeGitLab()
    fake.final_status = "failed"
    async with serve(fake.app) as url:
        chunks = await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert final(chunks).exit_code == 1
    assert final(chunks).text.startswith("pipeline failed: https://gitlab.example.com/")


async def test_unknown_ref_shows_gitlabs_reason() -> None:
    fake = FakeGitLab()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(GitLabRunner(options(url)), make_ctx({"ref": "nope", "env": "x"}))
    assert str(err.value) == "GitLab refused to create pipelines in acme/api (400): base: Reference not found"


async def test_forbidden_and_missing_project() -> None:
    fake = FakeGitLab()
    fake.fail("POST", "/pipeline", 403, {"message": "403 Forbidden"})
    async with serve(fake.app) as url:
        with pytest.raises(
            IntegrationError, match=r"GitLab says the token cannot create pipelines in acme/api \(403\)"
        ):
            await collect(GitLabRunner(options(url)), make_ctx(ARGS))
        with pytest.raises(IntegrationError, match=r"GitLab found nothing to read pipelines in acme/web \(404\)"):
            await collect(GitLabRunner(options(url, project="acme/web")), make_ctx(ARGS))


async def test_5xx_while_following_is_retried() -> None:
    fake = FakeGitLab()
    fake.fail("GET", "/pipelines/", 500, {"message": "500 Internal Server Error"}, times=2)
    fake.fail("GET", "/pipelines/", 429, {"message": "Retry later"}, headers={"Retry-After": "0"})
    async with serve(fake.app) as url:
        chunks = await collect(GitLabRunner(options(url)), make_ctx(ARGS))
    assert final(chunks).exit_code == 0


async def test_cancel_reaches_gitlab_when_the_run_is_cancelled() -> None:
    fake = FakeGitLab()
    fake.never_finish = True
    async with serve(fake.app) as url:
        runner = GitLabRunner(options(url))

        async def consume() -> None:
            async for _ in runner.execute(make_ctx(ARGS)):
                pass

        task = asyncio.create_task(consume())
        while not fake.pipelines or fake.pipelines[fake.next_id]["_step"] < 3:
            await asyncio.sleep(0.01)
        task.cancel()  # what /cancel does
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(fake.called("POST", f"/pipelines/{fake.next_id}/cancel")) == 1
    assert fake.pipelines[fake.next_id]["status"] == "canceled"


async def test_dry_run_and_hostile_project_argument() -> None:
    fake = FakeGitLab()
    async with serve(fake.app) as url:
        chunks = await collect(GitLabRunner(options(url)), make_ctx(ARGS, dry_run=True))
        assert final(chunks).text == (
            "dry run: would start a pipeline in acme/api on main with DEPLOY_ENV=staging, DRY=false"
        )
        with pytest.raises(IntegrationError, match="not a GitLab project id or path"):
            await collect(GitLabRunner(options(url, project="{p}")), make_ctx({**ARGS, "p": "acme/api?x=1"}))
    assert fake.calls == []


def test_bad_variable_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad variable name 'DEPLOY-ENV'"):
        GitLabRunner(options("http://127.0.0.1:1", variables={"DEPLOY-ENV": "x"}))
