"""The argocd runner against a local fake Argo CD API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.chat_server import serve
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.core import ConfigError
from opsroom.integrations.cicd.argocd import ArgoCDRunner
from opsroom.integrations.http import IntegrationError


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_TEST_TOKEN", "argo-jwt")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "server": url,
        "app": "{service}",
        "token_env": "ARGOCD_TEST_TOKEN",
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_sync_to_a_revision_waits_for_synced_and_healthy() -> None:
    fake = FakeArgoCD()
    async with serve(fake.app) as url:
        chunks = await collect(
            ArgoCDRunner(options(url, revision="{rev}", prune=True)),
            make_ctx({"service": "api", "rev": "abc1234"}),
        )
    infos = [{"name": "opsroom-run", "value": "opsroom-run-1"}]  # our correlation id, as a sync info
    assert fake.requests == [("sync", {"prune": True, "revision": "abc1234", "infos": infos})]
    assert final(chunks).exit_code == 0
    assert final(chunks).text == f"api is Healthy and Synced at abc1234: {url}/applications/argocd/api"
    lines = progress(chunks)
    # The old, finished operation in the first answers is not mistaken for ours.
    assert lines[1] == "sync Pending · sync OutOfSync · health Healthy"
    assert "sync Running · sync OutOfSync · health Progressing" in lines
    assert "sync Succeeded · sync Synced · health Progressing" in lines


async def test_rollback_to_history_id_needs_only_health() -> None:
    fake = FakeArgoCD()
    async with serve(fake.app) as url:
        chunks = await collect(
            ArgoCDRunner(options(url, action="rollback", history_id="{id}")),
            make_ctx({"service": "api", "id": 1}),
        )
    assert fake.requests == [("rollback", {"prune": False, "id": 1})]
    assert final(chunks).exit_code == 0
    assert final(chunks).text.startswith("api is Healthy and OutOfSync at 0000000")


async def test_rollback_refused_while_auto_sync_is_on() -> None:
    fake = FakeArgoCD()
    fake.auto_sync = True
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(ArgoCDRunner(options(url, action="rollback", history_id=1)), make_ctx({"service": "api"}))
    assert str(err.value) == (
        "Argo CD refused to rollback application api (400): rollback cannot be initiated when auto-sync is enabled"
    )


async def test_failed_sync_and_degraded_health_fail_the_run() -> None:
    fake = FakeArgoCD()
    fake.end_phase = "Failed"
    async with serve(fake.app) as url:
        chunks = await collect(ArgoCDRunner(options(url)), make_ctx({"service": "api"}))
        assert final(chunks).exit_code == 1
        assert final(chunks).text == "sync failed: one or more objects failed to apply"
        fake2 = FakeArgoCD()
        fake2.end_health = "Degraded"
    async with serve(fake2.app) as url:
        chunks = await collect(ArgoCDRunner(options(url)), make_ctx({"service": "api"}))
    assert final(chunks).exit_code == 1
    assert final(chunks).text == "api is Degraded after the sync"


async def test_rbac_denial_and_unknown_app() -> None:
    fake = FakeArgoCD()
    fake.denied_actions = {"sync"}
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(ArgoCDRunner(options(url)), make_ctx({"service": "api"}))
        assert str(err.value).startswith("Argo CD says the token cannot sync application api (403): permission denied")
        fake.denied_actions = set()
        with pytest.raises(IntegrationError, match=r"Argo CD found nothing to read application web \(404\)"):
            await collect(ArgoCDRunner(options(url)), make_ctx({"service": "web"}))


async def test_run_that_never_finishes_is_terminated_on_timeout() -> None:
    fake = FakeArgoCD()
    fake.never_finish = True
    fake.fail("GET", "/applications/api", 503, {"message": "upstream connect error"})
    async with serve(fake.app) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):
                await collect(ArgoCDRunner(options(url)), make_ctx({"service": "api"}))
    assert fake.terminated == 1
    assert len(fake.called("DELETE", "/applications/api/operation")) == 1


async def test_no_wait_and_dry_run() -> None:
    fake = FakeArgoCD()
    async with serve(fake.app) as url:
        chunks = await collect(ArgoCDRunner(options(url, wait=False)), make_ctx({"service": "api"}))
        assert final(chunks).exit_code == 0 and final(chunks).text.startswith("sync requested")
        # One read: the snapshot before the sync (none after it, since we do not wait).
        assert len(fake.called("GET", "/applications/api")) == 1
        fake.calls.clear()
        chunks = await collect(
            ArgoCDRunner(options(url, action="rollback", history_id=2)),
            make_ctx({"service": "api"}, dry_run=True),
        )
    assert final(chunks).text == "dry run: would roll api back to history id 2"
    assert fake.calls == []


async def test_hostile_arguments_are_refused_before_any_call() -> None:
    fake = FakeArgoCD()
    async with serve(fake.app) as url:
        for args, message in [
            ({"service": "api/../../settings"}, "not an Argo CD application name"),
            ({"service": "api", "rev": "--force"}, None),
            ({"service": "api", "id": "1; x"}, None),
        ]:
            extra = (
                {"revision": "{rev}"}
                if "rev" in args
                else {"action": "rollback", "history_id": "{id}"}
                if "id" in args
                else {}
            )
            with pytest.raises(IntegrationError, match=message or "not a"):
                await collect(ArgoCDRunner(options(url, **extra)), make_ctx(args))
    assert fake.calls == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"action": "delete"}, "must be one of sync, rollback"),
        ({"action": "rollback"}, "'history_id' is required"),
        ({"history_id": 3}, "only applies to action: rollback"),
        ({"action": "rollback", "history_id": 3, "revision": "x"}, "only applies to action: sync"),
    ],
)
def test_bad_options(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ArgoCDRunner(options("http://127.0.0.1:1", **bad))
