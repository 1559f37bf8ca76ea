"""The kubernetes runner (kubernetes_asyncio) against a local fake API server over plain HTTP,
reached through a real kubeconfig file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes.chat_server import serve
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.runctx import collect, final, make_ctx, progress

from opsroom.core import ConfigError, RunnerSpec
from opsroom.features import build_runner
from opsroom.integrations.http import IntegrationError
from opsroom.integrations.k8s.runner import KubernetesRunner

ARGS = {"service": "api", "namespace": "prod"}


def kubeconfig(tmp_path: Path, url: str, token: str = "k8s-token") -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "fake", "cluster": {"server": url}}],
                "users": [{"name": "opsroom", "user": {"token": token}}],
                "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "opsroom"}}],
            }
        )
    )
    return str(path)


def options(config: str, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "deployment": "{service}",
        "namespace": "{namespace}",
        "kubeconfig": config,
        "poll_interval": 0.01,
        "retry_backoff": 0.01,
        **extra,
    }


async def test_restart_patches_the_template_annotation_and_follows_the_rollout(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        chunks = await collect(KubernetesRunner(options(kubeconfig(tmp_path, url), "restart")), make_ctx(ARGS))
    path, content_type, body = fake.patches[0]
    assert path == "/apis/apps/v1/namespaces/prod/deployments/api"
    assert content_type == "application/strategic-merge-patch+json"
    annotations = body["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    assert final(chunks).exit_code == 0
    assert final(chunks).text == "api restarted: 3 of 3 replicas updated and available"
    assert "1 of 3 new replicas updated" in progress(chunks)


async def test_undo_goes_back_to_the_previous_revision_of_this_deployment_only(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        chunks = await collect(KubernetesRunner(options(kubeconfig(tmp_path, url), "undo")), make_ctx(ARGS))
    _, content_type, body = fake.patches[0]
    assert content_type == "application/json-patch+json"
    assert body[0]["path"] == "/spec/template"
    assert fake.image == "registry.example.com/api:v2"
    assert "pod-template-hash" not in fake.deployment["spec"]["template"]["metadata"]["labels"]
    assert "rolling api back from revision 3 to revision 2" in progress(chunks)
    assert final(chunks).exit_code == 0


async def test_undo_to_a_named_revision_and_to_one_that_does_not_exist(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        config = kubeconfig(tmp_path, url)
        chunks = await collect(
            KubernetesRunner(options(config, "undo", revision="{rev}")), make_ctx({**ARGS, "rev": 1})
        )
        assert final(chunks).exit_code == 0 and fake.image == "registry.example.com/api:v1"
        fake.patches.clear()
        with pytest.raises(IntegrationError, match=r"deployment api has no revision 7 \(known: 1, 2, 3\)"):
            await collect(KubernetesRunner(options(config, "undo", revision="{rev}")), make_ctx({**ARGS, "rev": 7}))
    assert fake.patches == []  # the stray ReplicaSet with revision 7 belongs to someone else


async def test_scale_patches_the_scale_subresource(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        config = kubeconfig(tmp_path, url)
        chunks = await collect(
            KubernetesRunner(options(config, "scale", replicas="{count}")), make_ctx({**ARGS, "count": 5})
        )
        assert fake.patches[0][0].endswith("/deployments/api/scale")
        assert fake.patches[0][2] == {"spec": {"replicas": 5}}
        assert final(chunks).text == "api scaled to 5: 5 of 5 replicas updated and available"
        with pytest.raises(IntegrationError, match="500 replicas is outside 0–50"):
            await collect(
                KubernetesRunner(options(config, "scale", replicas="{count}")),
                make_ctx({**ARGS, "count": 500}),
            )
    assert len(fake.patches) == 1


async def test_status_shows_the_deployment_and_its_pods(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        chunks = await collect(KubernetesRunner(options(kubeconfig(tmp_path, url), "status")), make_ctx(ARGS))
    out = final(chunks)
    assert out.result == "api: 3/3 ready, 3 up to date, 3 available, revision 3"
    assert "  pod api-abc-2: Running 0/1 ready, 4 restarts" in out.text
    assert "  Progressing=True NewReplicaSetAvailable" in out.text


async def test_logs_tail_each_pod(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        chunks = await collect(
            KubernetesRunner(options(kubeconfig(tmp_path, url), "logs", tail_lines=2, max_pods=2, container="api")),
            make_ctx(ARGS),
        )
    assert [c.text for c in chunks[:-1]] == [
        "==> api-abc-0 <==\napi-abc-0 line 49\napi-abc-0 line 50\n",
        "==> api-abc-1 <==\napi-abc-1 line 49\napi-abc-1 line 50\n",
    ]
    log_calls = fake.called("GET", "/log")
    assert log_calls[0].query == {"container": "api", "tailLines": "2"}


async def test_forbidden_patch_and_unknown_deployment_are_clear(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    fake.forbidden_verbs = {"patch"}
    async with serve(fake.app) as url:
        config = kubeconfig(tmp_path, url)
        with pytest.raises(IntegrationError) as err:
            await collect(KubernetesRunner(options(config, "restart")), make_ctx(ARGS))
        assert str(err.value).startswith(
            "Kubernetes says the service account cannot patch deployments in prod (403): "
            'deployments.apps "api" is forbidden'
        )
        with pytest.raises(IntegrationError, match=r"Kubernetes found nothing to get deployments in prod \(404\)"):
            await collect(KubernetesRunner(options(config, "status")), make_ctx({**ARGS, "service": "web"}))
        with pytest.raises(IntegrationError, match=r"rejected the credentials .* \(401\)"):
            await collect(KubernetesRunner(options(kubeconfig(tmp_path, url, "stale"), "status")), make_ctx(ARGS))


async def test_throttling_and_server_errors_are_retried(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    fake.fail(
        "PATCH",
        "/deployments/api",
        429,
        {"kind": "Status", "code": 429, "message": "Too many requests"},
        headers={"Retry-After": "1"},
    )
    fake.fail("GET", "/deployments/api", 503, {"kind": "Status", "code": 503, "message": "unavailable"}, times=2)
    async with serve(fake.app) as url:
        started = asyncio.get_running_loop().time()
        chunks = await collect(KubernetesRunner(options(kubeconfig(tmp_path, url), "restart")), make_ctx(ARGS))
        waited = asyncio.get_running_loop().time() - started
    assert final(chunks).exit_code == 0
    assert waited >= 0.95
    assert len(fake.called("PATCH", "/deployments/api")) == 2


async def test_stuck_rollout_fails_and_a_slow_one_is_left_alone_on_timeout(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    fake.stuck = True
    async with serve(fake.app) as url:
        config = kubeconfig(tmp_path, url)
        chunks = await collect(KubernetesRunner(options(config, "restart")), make_ctx(ARGS))
        assert final(chunks).exit_code == 1
        assert final(chunks).text == "api rollout failed: deployment api exceeded its progress deadline"
        slow = FakeKubernetes()
        slow.rollout_polls = 10**6
    async with serve(slow.app) as url:
        runner = build_runner(RunnerSpec("kubernetes", options(kubeconfig(tmp_path, url), "restart")))
        run = asyncio.create_task(collect(runner, make_ctx(ARGS)))
        # Patched, then following the rollout (reading the Deployment again and again); how
        # soon depends on the machine, so wait for it rather than for a fixed time.
        async with asyncio.timeout(30):
            while not (slow.patches and len(slow.calls) >= 5):
                await asyncio.sleep(0.01)
        assert not run.done(), "a slow rollout is followed, not given up on"
        run.cancel()  # the run's timeout
        with pytest.raises(asyncio.CancelledError):
            await run
    # Only the one restart patch: nothing "undoes" a rollout behind the user's back.
    assert len(slow.patches) == 1


async def test_hostile_names_never_reach_the_api(tmp_path: Path) -> None:
    fake = FakeKubernetes()
    async with serve(fake.app) as url:
        config = kubeconfig(tmp_path, url)
        for args in (
            {"service": "api/../../secrets", "namespace": "prod"},
            {"service": "api", "namespace": "kube-system/x"},
            {"service": "API", "namespace": "prod"},
        ):
            with pytest.raises(IntegrationError, match="is not a valid Kubernetes"):
                await collect(KubernetesRunner(options(config, "status")), make_ctx(args))
    assert fake.calls == []


async def test_dry_run_and_config_errors(tmp_path: Path) -> None:
    chunks = await collect(
        KubernetesRunner(options("/nonexistent", "undo", revision="4")), make_ctx(ARGS, dry_run=True)
    )
    assert final(chunks).text == "dry run: would roll back to revision 4 deployment api in prod"
    with pytest.raises(IntegrationError, match="cannot load the Kubernetes kubeconfig /nonexistent"):
        await collect(KubernetesRunner(options("/nonexistent", "status")), make_ctx(ARGS))
    with pytest.raises(IntegrationError, match="cannot load the Kubernetes in-cluster service account"):
        await collect(KubernetesRunner({**options("", "status"), "in_cluster": True}), make_ctx(ARGS))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"action": "delete"}, "must be one of restart, undo, scale, status, logs"),
        ({"action": "scale"}, "'replicas' is required"),
        ({"action": "status", "revision": 3}, "only applies to action: undo"),
        ({"action": "status", "namespace": None}, "'namespace' is required"),
    ],
)
def test_bad_options(bad: dict[str, Any], message: str) -> None:
    opts = {k: v for k, v in {**options("/x", "status"), **bad}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        KubernetesRunner(opts)


async def test_a_cancel_while_following_a_rollout_is_never_lost(tmp_path: Path) -> None:
    """The run's Cancel button (or its timeout) stops the follow whenever it lands, also as
    an API call completes: Python 3.11's ``wait_for`` dropped such a cancellation (≈ 3 in
    100 here), and the run went on polling a rollout nobody waited for."""
    slow = FakeKubernetes()
    slow.rollout_polls = 10**9
    lost = 0
    async with serve(slow.app) as url:
        spec = RunnerSpec("kubernetes", options(kubeconfig(tmp_path, url), "restart"))
        for attempt in range(200):
            run = asyncio.create_task(collect(build_runner(spec), make_ctx(ARGS)))
            await asyncio.sleep(0.03 + (attempt % 17) * 0.001)  # a spread of moments in the polling
            run.cancel()
            done, _ = await asyncio.wait({run}, timeout=2)
            if not done:
                lost += 1
                run.cancel()
                await asyncio.wait({run}, timeout=2)
    assert lost == 0, f"{lost} of 200 cancels were lost"
