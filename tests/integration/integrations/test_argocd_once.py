"""An Argo CD sync is requested once: a proxy's 502 after Argo CD accepted it is followed,
never re-sent, and the operation followed is the one carrying our correlation info."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.chat_server import serve
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.integrations.cicd.argocd import ArgoCDRunner
from opsroom.integrations.http import IntegrationError


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGO_TEST_TOKEN", "argo-jwt")


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "server": url,
        "app": "{service}",
        "token_env": "ARGO_TEST_TOKEN",
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        "find_timeout": 2,
        **extra,
    }


@pytest.mark.parametrize("action", ["sync", "rollback"])
async def test_a_502_after_argo_accepted_the_operation_follows_it_without_a_second(action: str) -> None:
    fake = FakeArgoCD()
    fake.fail_after_acting("POST", f"/applications/api/{action}", 502)
    extra = {"action": "rollback", "history_id": 1} if action == "rollback" else {}
    async with serve(fake.app) as url:
        chunks = await collect(ArgoCDRunner(options(url, **extra)), make_ctx({"service": "api"}))
    assert len(fake.called("POST", f"/applications/api/{action}")) == 1
    assert len(fake.requests) == 1
    assert final(chunks).exit_code == 0
    assert any("found the operation it started" in line for line in progress(chunks))


async def test_a_502_before_argo_acted_is_reported_and_not_repeated() -> None:
    fake = FakeArgoCD()
    fake.fail("POST", "/applications/api/sync", 502, {"error": "upstream", "code": 14, "message": "upstream"})
    async with serve(fake.app) as url:
        with pytest.raises(IntegrationError) as err:
            await collect(ArgoCDRunner(options(url, find_timeout=0.3)), make_ctx({"service": "api"}))
    assert "Argo CD failed to sync application api (502)" in str(err.value)
    assert "did not start it again" in str(err.value)
    assert len(fake.called("POST", "/applications/api/sync")) == 1 and fake.requests == []


async def test_a_sync_someone_else_started_is_not_taken_for_ours() -> None:
    fake = FakeArgoCD()
    fake.fail("POST", "/applications/api/sync", 502, {"error": "upstream", "code": 14, "message": "upstream"})
    async with serve(fake.app) as url:
        # A colleague's sync (from the UI, no opsroom info) is pending when we look.
        fake.application["operation"] = {"sync": {"revision": ""}, "initiatedBy": {"username": "grace"}}
        with pytest.raises(IntegrationError, match="found nothing, and did not start it again"):
            await collect(ArgoCDRunner(options(url, find_timeout=0.3)), make_ctx({"service": "api"}))
    assert fake.terminated == 0
