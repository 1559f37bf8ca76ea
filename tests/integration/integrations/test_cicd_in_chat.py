"""What a person in chat sees when a deploy's start answer is lost, or a vendor refuses: one
build, followed to the end; the vendor's own reason in the run's message and the audit.
Through the whole engine, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fakes.chat_server import serve
from tests.fakes.jenkins import FakeJenkins
from tests.support.system import demo_data, make_system

from opsroom.core import RunState
from opsroom.runs import store as run_store


def with_jenkins(url: str, crumb: bool) -> dict[str, Any]:
    data = demo_data()
    data["commands"]["buildapi"] = {
        "summary": "build and ship the API",
        "args": [{"name": "version", "type": "string", "pattern": "^[0-9.]+$"}],
        "runner": {
            "type": "jenkins",
            "url": url,
            "job": "deploy/api",
            "parameters": {"VERSION": "{version}"},
            "user": "opsroom",
            "token_env": "JENKINS_CHAT_TOKEN",
            "poll_interval": 0.01,
            "retry_backoff": 0.01,
            "find_timeout": 5,
            "crumb": crumb,
        },
    }
    data["policy"]["rules"].append({"id": "ship-all", "allow": ["buildapi"], "users": ["*"]})
    return data


async def ship(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, fake: FakeJenkins, *, crumb: bool = True
) -> tuple[Any, Any]:
    monkeypatch.setenv("JENKINS_CHAT_TOKEN", "11aa22bb")
    async with serve(fake.app) as url:
        system, chat = make_system(tmp_path, db_url, with_jenkins(url, crumb), monkeypatch=monkeypatch)
        await system.start()
        try:
            await chat.say("alice", "/buildapi 1.4.2")
            await system.runs.drain()
            with system.db.read() as conn:
                [run] = run_store.list_runs(conn, limit=10)
            return system, (chat, run, [e for e in system.audit.for_run(run.id)])
        finally:
            await system.stop()
            system.db.dispose()


async def test_a_502_after_jenkins_queued_the_build_gives_one_build_followed_to_success(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeJenkins()
    fake.fail_after_acting("POST", "/buildWithParameters", 502)
    _, (chat, run, _) = await ship(tmp_path, db_url, monkeypatch, fake)
    assert fake.params == [{"VERSION": "1.4.2"}]  # exactly one build
    assert run.state == RunState.SUCCEEDED
    assert "found the build it started" in run.output or any(
        "found the build it started" in v.as_text() for p in chat.posts for v in p.versions
    )
    assert "succeeded" in chat.posts[0].text


async def test_jenkins_refusal_reason_reaches_chat_and_the_audit(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeJenkins()  # CSRF protection on; the command is configured without crumbs
    _, (chat, run, audit) = await ship(tmp_path, db_url, monkeypatch, fake, crumb=False)
    reason = (
        "Jenkins says the token cannot build deploy/api (403): Error 403 No valid crumb was included in the request"
    )
    assert run.state == RunState.FAILED and fake.params == []
    assert reason in chat.posts[0].text
    assert any(reason in str(entry.detail) + entry.summary for entry in audit)
