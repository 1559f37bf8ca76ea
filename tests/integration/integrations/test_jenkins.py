"""The jenkins runner against a local fake Jenkins (crumb, queue, build, console, stop)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.jenkins import FakeJenkins
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.integrations.cicd.jenkins import JenkinsRunner
from opsroom.integrations.http import IntegrationError

ARGS = {"version": "1.4.2", "env": "staging"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JENKINS_TEST_TOKEN", "11aa22bb")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "job": "deploy/api",
        "parameters": {"VERSION": "{version}", "ENV": "{env}"},
        "user": "opsroom",
        "token_env": "JENKINS_TEST_TOKEN",
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_build_with_crumb_follows_queue_and_build_and_streams_console() -> None:
    fake = FakeJenkins()
    async with serve(fake.app) as url:
        chunks = await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert fake.params == [{"VERSION": "1.4.2", "ENV": "staging"}]
    # The POST carried the crumb of the session the crumb came from (the fake would 403 otherwise).
    post = fake.called("POST", "/buildWithParameters")[0]
    assert post.headers["jenkins-crumb"] == "crumb0"
    console = "http://jenkins.example.com/job/deploy/job/api/42/console"
    assert final(chunks).exit_code == 0 and final(chunks).result == console
    assert "queued: Waiting for next available executor" in progress(chunks)
    assert f"build #42 started: {console}" in progress(chunks)
    stdout = "".join(c.text for c in chunks if c.stream == "stdout")
    assert stdout.startswith("Started by user opsroom\nstep 1\n") and "Finished: SUCCESS" in stdout
    assert stdout.count("step 1\n") == 1  # progressive text: each line once


async def test_failed_build_and_csrf_off() -> None:
    fake = FakeJenkins()
    fake.crumbs_enabled = False
    fake.result = "FAILURE"
    async with serve(fake.app) as url:
        chunks = await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert final(chunks).exit_code == 1
    assert final(chunks).text.startswith("build #42 failure: ")


async def test_wrong_token_and_unknown_job(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeJenkins()
    monkeypatch.setenv("JENKINS_OLD_TOKEN", "revoked")
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError, match=r"Jenkins rejected the credentials .*\(401\)") as err:
            await collect(JenkinsRunner(options(url, token_env="JENKINS_OLD_TOKEN")), make_ctx(ARGS))
        assert "revoked" not in str(err.value)
        with pytest.raises(IntegrationError, match=r"Jenkins found nothing to read the job deploy/web \(404\)"):
            await collect(JenkinsRunner(options(url, job="deploy/web")), make_ctx(ARGS))


async def test_missing_crumb_is_a_403_that_says_so() -> None:
    fake = FakeJenkins()
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(JenkinsRunner(options(url, crumb=False)), make_ctx(ARGS))
    assert (
        str(err.value)
        == "Jenkins says the token cannot build deploy/api (403): Error 403 No valid crumb was included in the request"
    )


async def test_timeout_of_a_build_that_never_finishes_aborts_it() -> None:
    fake = FakeJenkins()
    fake.never_finish = True
    async with serve(fake.app) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3):
                await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert fake.stopped == [42]
    stop = fake.called("POST", "/42/stop")[0]
    assert stop.headers["jenkins-crumb"] == "crumb0"


async def test_cancel_while_queued_takes_the_item_out_of_the_queue() -> None:
    fake = FakeJenkins()
    fake.queue_polls = 10_000
    async with serve(fake.app) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):
                await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert fake.cancelled_items == [101]
    assert fake.builds == {}


async def test_server_errors_and_slow_answers_are_retried_for_reads() -> None:
    fake = FakeJenkins()
    fake.fail("GET", "/queue/item/", 503, {"message": "Jenkins is getting ready to work"})
    fake.fail("GET", "/api/json", 200, {}, delay=0.5)  # longer than the client's timeout
    async with serve(fake.app) as url:
        chunks = await collect(JenkinsRunner(options(url, timeout=0.2)), make_ctx(ARGS))
    assert final(chunks).exit_code == 0


async def test_job_name_cannot_climb_out_of_the_job_tree() -> None:
    fake = FakeJenkins()
    async with serve(fake.app) as url:
        for bad in ("deploy/../../script", "", "a//b"):
            with pytest.raises(IntegrationError, match="is not a Jenkins job name"):
                await collect(JenkinsRunner(options(url, job="{job}")), make_ctx({**ARGS, "job": bad}))
        # Odd but legal characters are quoted into one path segment, never a query string.
        with pytest.raises(IntegrationError, match="404"):
            await collect(JenkinsRunner(options(url, job="{job}")), make_ctx({**ARGS, "job": "deploy/a b?c"}))
    assert fake.calls[-1].path.startswith("/job/deploy/job/a b")
    assert fake.calls[-1].path.endswith("c/api/json")  # the job read before the build, as one segment
    assert fake.calls[-1].query == {"tree": "nextBuildNumber"}  # nothing of "?c" leaked into it
