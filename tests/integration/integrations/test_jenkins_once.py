"""A Jenkins build is started once: a proxy's 502 after Jenkins queued it is followed, never
re-sent; a lookup that cannot tell two builds apart says so."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.jenkins import FakeJenkins
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.integrations.cicd.jenkins import JenkinsRunner
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.once import Ambiguous

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
        "find_timeout": 2,
        **extra,
    }


@pytest.mark.parametrize("queue_polls", [5, 0], ids=["still-queued", "already-building"])
async def test_a_502_after_jenkins_queued_the_build_follows_that_build(queue_polls: int) -> None:
    fake = FakeJenkins()
    fake.queue_polls = queue_polls
    fake.fail_after_acting("POST", "/buildWithParameters", 502)
    async with serve(fake.app) as url:
        if queue_polls == 0:  # Jenkins started it before we looked: it is a build, not a queue item
            fake.queue_polls = -1
        chunks = await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert len(fake.called("POST", "/buildWithParameters")) == 1
    assert len(fake.params) == 1
    assert final(chunks).exit_code == 0
    assert any(
        "Jenkins failed to build deploy/api (502)" in line and "found the build it started" in line
        for line in progress(chunks)
    )


async def test_a_correlation_parameter_tells_our_build_from_a_colleagues_identical_one() -> None:
    fake = FakeJenkins()
    fake.definitions = {"VERSION": "", "ENV": "", "OPSROOM_RUN": "", "DRY_RUN": "false"}
    fake.queue_polls = 50
    fake.build_polls = 1
    async with serve(fake.app) as url:
        # A colleague's identical build, queued just before ours.
        await collect(JenkinsRunner(options(url, correlation_parameter="OPSROOM_RUN")), make_ctx(ARGS, dry_run=True))
        fake.params.append({"VERSION": "1.4.2", "ENV": "staging", "OPSROOM_RUN": "opsroom-run-9", "DRY_RUN": "false"})
        fake.next_queue_id += 1
        fake.queue[fake.next_queue_id] = {"polls": 0, "params": fake.params[-1]}
        colleague = fake.next_queue_id
        fake.fail_after_acting("POST", "/buildWithParameters", 502)
        fake.queue_polls = 0
        chunks = await collect(JenkinsRunner(options(url, correlation_parameter="OPSROOM_RUN")), make_ctx(ARGS))
    ours = fake.next_queue_id
    assert fake.params[-1]["OPSROOM_RUN"] == "opsroom-run-1"
    assert final(chunks).exit_code == 0
    assert fake.called("GET", f"/queue/item/{ours}/api/json")
    assert not fake.called("GET", f"/queue/item/{colleague}/api/json")


async def test_without_correlation_two_identical_queued_builds_are_reported() -> None:
    fake = FakeJenkins()
    fake.queue_polls = 50
    fake.params.append(dict(ARGS_PARAMS := {"VERSION": "1.4.2", "ENV": "staging"}))
    fake.next_queue_id += 1
    fake.queue[fake.next_queue_id] = {"polls": 0, "params": ARGS_PARAMS}
    fake.fail_after_acting("POST", "/buildWithParameters", 502)
    async with serve(fake.app) as url:
        with pytest.raises(Ambiguous, match="2 builds of deploy/api with the same parameters"):
            await collect(JenkinsRunner(options(url)), make_ctx(ARGS))
    assert fake.cancelled_items == [] and fake.stopped == []


async def test_a_502_before_jenkins_acted_is_reported_not_repeated() -> None:
    fake = FakeJenkins()
    fake.fail("POST", "/buildWithParameters", 502, times=5)
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError, match="did not start it again"):
            await collect(JenkinsRunner(options(url, find_timeout=0.3)), make_ctx(ARGS))
    assert len(fake.called("POST", "/buildWithParameters")) == 1
    assert fake.params == []
