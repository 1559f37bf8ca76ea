"""Kubernetes Deployments: rollout restart, rollout undo, scale, status, logs.

One runner type, ``kubernetes``, with an ``action`` option; each action is a method, looked
up in a table. They do what the matching ``kubectl`` command does, through the API:

- restart: patch the pod template annotation ``kubectl.kubernetes.io/restartedAt``;
- undo: find the Deployment's ReplicaSets (selector + owner reference), pick the one whose
  ``deployment.kubernetes.io/revision`` is the named revision (or the newest before the
  current one) and put its pod template back (minus ``pod-template-hash``);
- scale: patch the ``scale`` subresource;
- status: the Deployment's replica counts and conditions, and its pods;
- logs: the last lines of each of its pods (a few pods at most).

restart, undo and scale then follow the rollout like ``kubectl rollout status``. A rollout
cannot be "cancelled" in Kubernetes (undo is its own command), so when opsroom gives up on a
run we stop watching and say so; the Deployment carries on.

The namespace comes from the command's arguments (``namespace: "{namespace}"``) so that policy
can decide who may touch which namespace; it is checked to be a valid name before any call.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kubernetes_asyncio import client

from opsroom.core import OutputChunk, RunContext
from opsroom.errors import IntegrationError
from opsroom.integrations.k8s.connect import ClusterSettings, call, connect, plain
from opsroom.integrations.remote import poll_sleep
from opsroom.integrations.templating import Value, check_placeholders, value_option
from opsroom.runs.runners.options import Options

TYPE = "kubernetes"
KNOWN = (
    "action",
    "deployment",
    "namespace",
    "revision",
    "replicas",
    "max_replicas",
    "container",
    "tail_lines",
    "max_pods",
    "wait",
    "poll_interval",
    "kubeconfig",
    "context",
    "in_cluster",
    "timeout",
    "retries",
    "retry_backoff",
    "max_retry_after",
)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # DNS-1123 subdomain (object names)
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1123 label
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_LIMIT = 20  # pods listed by status


class KubernetesRunner:
    def __init__(self, options: Mapping[str, Any]) -> None:
        opts = Options(TYPE, options, KNOWN)
        self.action = opts.string("action")
        actions: dict[str, Callable[[Target, RunContext], AsyncIterator[OutputChunk]]] = {
            "restart": self._restart,
            "undo": self._undo,
            "scale": self._scale,
            "status": self._status,
            "logs": self._logs,
        }
        if self.action not in actions:
            raise opts.error("action", f"must be one of {', '.join(actions)}, not {self.action!r}")
        self._do = actions[self.action]
        self.deployment = value_option(opts, "deployment", required=True)
        self.namespace = value_option(opts, "namespace", required=True)
        self.revision = value_option(opts, "revision")
        self.replicas = value_option(opts, "replicas", required=self.action == "scale")
        self.max_replicas = opts.integer("max_replicas", 50, minimum=1)
        self.container = value_option(opts, "container")
        self.tail_lines = opts.integer("tail_lines", 100, minimum=1)
        self.max_pods = opts.integer("max_pods", 5, minimum=1)
        self.wait = opts.boolean("wait", True)
        self.poll_interval = opts.number("poll_interval", 2.0, minimum=0.01)
        for key, wanted in (("revision", "undo"), ("replicas", "scale"), ("container", "logs")):
            if opts.has(key) and self.action != wanted:
                raise opts.error(key, f"only applies to action: {wanted}")
        self.settings = ClusterSettings(
            kubeconfig=opts.string("kubeconfig", "") if opts.has("kubeconfig") else "",
            context=opts.string("context", "") if opts.has("context") else "",
            in_cluster=opts.boolean("in_cluster", False) if opts.has("in_cluster") else None,
            timeout=opts.number("timeout", 30.0, minimum=0.01),
            retries=opts.integer("retries", 4),
            retry_backoff=opts.number("retry_backoff", 0.5),
            max_retry_after=opts.number("max_retry_after", 120.0),
        )

    def check_args(self, arg_names: Collection[str]) -> None:
        """Called by the catalog loader: every ``{placeholder}`` must be an argument."""
        check_placeholders(
            TYPE, arg_names, self.deployment, self.namespace, self.revision, self.replicas, self.container
        )

    async def execute(self, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        name = _checked(self.deployment, ctx, _NAME, "deployment name")
        namespace = _checked(self.namespace, ctx, _NAMESPACE, "namespace")
        if ctx.dry_run:
            yield OutputChunk(
                text=f"dry run: would {self._describe(ctx)} deployment {name} in {namespace}", exit_code=0
            )
            return
        async with await connect(self.settings) as api:
            target = Target(api, self.settings, name, namespace)
            async for chunk in self._do(target, ctx):
                yield chunk

    def _describe(self, ctx: RunContext) -> str:
        if self.action == "scale":
            return f"scale to {self._replicas(ctx)} replicas"
        if self.action == "undo":
            revision = self.revision.text(ctx.args)
            return f"roll back to revision {revision}" if revision else "roll back to the previous revision of"
        return {"restart": "restart", "status": "show the status of", "logs": "show the logs of"}[self.action]

    def _replicas(self, ctx: RunContext) -> int:
        raw = self.replicas.render(ctx.args)
        try:
            count = int(raw)
        except (TypeError, ValueError):
            raise IntegrationError(f"{raw!r} is not a number of replicas") from None
        if not 0 <= count <= self.max_replicas:
            raise IntegrationError(f"{count} replicas is outside 0–{self.max_replicas} (max_replicas)")
        return count

    # -- actions ---------------------------------------------------------------------------

    async def _restart(self, t: Target, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        await t.call("patch deployments", lambda: t.apps.patch_namespaced_deployment(t.name, t.namespace, patch))
        yield OutputChunk(text=f"restart of {t.name} in {t.namespace} requested", stream="progress")
        async for chunk in self._follow(t, "restarted"):
            yield chunk

    async def _undo(self, t: Target, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        wanted = self.revision.text(ctx.args)
        if wanted is not None and wanted != "" and not wanted.isdigit():
            raise IntegrationError(f"{wanted!r} is not a revision number")
        deployment = await t.read()
        current = _revision(deployment.metadata)
        history = await t.history(deployment)
        known = ", ".join(str(r) for r in sorted(history)) or "none"
        if wanted:
            revision = int(wanted)
            if revision not in history:
                raise IntegrationError(f"deployment {t.name} has no revision {revision} (known: {known})")
        else:
            older = [r for r in history if r < current]
            if not older:
                raise IntegrationError(
                    f"deployment {t.name} has no revision before {current} to go back to (known: {known})"
                )
            revision = max(older)
        if revision == current:
            yield OutputChunk(text=f"{t.name} is already at revision {revision}; nothing to do", exit_code=0)
            return
        template = plain(t.api, history[revision].spec.template)
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        await t.call("patch deployments", lambda: t.apps.patch_namespaced_deployment(t.name, t.namespace, patch))
        yield OutputChunk(
            text=f"rolling {t.name} back from revision {current} to revision {revision}", stream="progress"
        )
        async for chunk in self._follow(t, f"rolled back to revision {revision}"):
            yield chunk

    async def _scale(self, t: Target, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        count = self._replicas(ctx)
        await t.call(
            "patch deployments/scale",
            lambda: t.apps.patch_namespaced_deployment_scale(t.name, t.namespace, {"spec": {"replicas": count}}),
        )
        yield OutputChunk(text=f"scaling {t.name} in {t.namespace} to {count}", stream="progress")
        async for chunk in self._follow(t, f"scaled to {count}"):
            yield chunk

    async def _status(self, t: Target, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        d = await t.read()
        s = d.status
        want = d.spec.replicas if d.spec.replicas is not None else 1
        summary = (
            f"{t.name}: {s.ready_replicas or 0}/{want} ready, {s.updated_replicas or 0} up to date, "
            f"{s.available_replicas or 0} available, revision {_revision(d.metadata)}"
        )
        lines = [summary]
        for c in s.conditions or []:
            lines.append(f"  {c.type}={c.status} {c.reason or ''} {c.message or ''}".rstrip())
        pods = await t.pods(d, limit=POD_LIMIT)
        for pod in pods:
            statuses = pod.status.container_statuses or []
            ready = sum(1 for c in statuses if c.ready)
            restarts = sum(c.restart_count or 0 for c in statuses)
            lines.append(
                f"  pod {pod.metadata.name}: {pod.status.phase} {ready}/{len(statuses)} ready, {restarts} restarts"
            )
        yield OutputChunk(text="\n".join(lines) + "\n", exit_code=0, result=summary)

    async def _logs(self, t: Target, ctx: RunContext) -> AsyncIterator[OutputChunk]:
        d = await t.read()
        container = self.container.text(ctx.args) or None
        if container is not None and not _NAME.match(container):
            raise IntegrationError(f"{container!r} is not a container name")
        pods = await t.pods(d, limit=self.max_pods)
        if not pods:
            yield OutputChunk(text=f"{t.name} has no pods", exit_code=0)
            return
        for pod in pods:
            pod_name = str(pod.metadata.name)
            text = await t.call("get pods/log", partial(t.logs, pod_name, container, self.tail_lines))
            yield OutputChunk(text=f"==> {pod_name} <==\n{text}" + ("" if str(text).endswith("\n") else "\n"))
        yield OutputChunk(exit_code=0, result=f"last {self.tail_lines} lines of {len(pods)} pod(s) of {t.name}")

    async def _follow(self, t: Target, done: str) -> AsyncIterator[OutputChunk]:
        """``kubectl rollout status``: wait until the new ReplicaSet is fully rolled out."""
        if not self.wait:
            yield OutputChunk(text=f"{t.name} {done}; not waiting for the rollout", exit_code=0)
            return
        last = ""
        while True:
            d = await t.read()
            state, message = rollout_state(d)
            if message != last:
                yield OutputChunk(text=message, stream="progress")
                last = message
            if state == "done":
                yield OutputChunk(text=f"{t.name} {done}: {message}", exit_code=0, result=message)
                return
            if state == "failed":
                yield OutputChunk(text=f"{t.name} rollout failed: {message}", exit_code=1, result=message)
                return
            await poll_sleep(self.poll_interval)


class Target:
    """One Deployment and the API clients to reach it."""

    def __init__(self, api: client.ApiClient, settings: ClusterSettings, name: str, namespace: str) -> None:
        self.api, self.settings, self.name, self.namespace = api, settings, name, namespace
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    async def call(self, verb_resource: str, request: Callable[[], Any]) -> Any:
        return await call(self.settings, f"{verb_resource} in {self.namespace}", request)

    async def read(self) -> Any:
        return await self.call(
            "get deployments", lambda: self.apps.read_namespaced_deployment(self.name, self.namespace)
        )

    async def history(self, deployment: Any) -> dict[int, Any]:
        """The Deployment's ReplicaSets by revision number."""
        selector = _selector(deployment)
        sets = await self.call(
            "list replicasets",
            lambda: self.apps.list_namespaced_replica_set(self.namespace, label_selector=selector),
        )
        out: dict[int, Any] = {}
        for rs in sets.items:
            owners = rs.metadata.owner_references or []
            if not any(o.kind == "Deployment" and o.uid == deployment.metadata.uid for o in owners):
                continue
            revision = _revision(rs.metadata)
            if revision:
                out[revision] = rs
        return out

    async def logs(self, pod: str, container: str | None, tail_lines: int) -> Any:
        if container:
            return await self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, tail_lines=tail_lines
            )
        return await self.core.read_namespaced_pod_log(pod, self.namespace, tail_lines=tail_lines)

    async def pods(self, deployment: Any, *, limit: int) -> list[Any]:
        selector = _selector(deployment)
        pods = await self.call(
            "list pods",
            lambda: self.core.list_namespaced_pod(self.namespace, label_selector=selector, limit=limit),
        )
        return list(pods.items)[:limit]


def rollout_state(d: Any) -> tuple[str, str]:
    """("done" | "waiting" | "failed", message), following kubectl's rollout status rules."""
    s, spec = d.status, d.spec
    if (d.metadata.generation or 0) > (s.observed_generation or 0):
        return "waiting", "waiting for the deployment spec update to be observed"
    for c in s.conditions or []:
        if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
            return "failed", f"deployment {d.metadata.name} exceeded its progress deadline"
    want = spec.replicas if spec.replicas is not None else 1
    updated, total, available = s.updated_replicas or 0, s.replicas or 0, s.available_replicas or 0
    if updated < want:
        return "waiting", f"{updated} of {want} new replicas updated"
    if total > updated:
        return "waiting", f"{total - updated} old replicas pending termination"
    if available < updated:
        return "waiting", f"{available} of {updated} updated replicas available"
    return "done", f"{updated} of {want} replicas updated and available"


def _selector(deployment: Any) -> str:
    labels = (deployment.spec.selector.match_labels or {}) if deployment.spec.selector else {}
    if not labels:
        raise IntegrationError(f"deployment {deployment.metadata.name} has no matchLabels selector")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _revision(metadata: Any) -> int:
    value = (metadata.annotations or {}).get(REVISION_ANNOTATION, "")
    return int(value) if str(value).isdigit() else 0


def _checked(value: Value, ctx: RunContext, pattern: re.Pattern[str], what: str) -> str:
    text = value.text(ctx.args) or ""
    if not pattern.match(text):
        raise IntegrationError(f"{text!r} is not a valid Kubernetes {what}")
    return text


def factory(options: Mapping[str, Any]) -> KubernetesRunner:
    return KubernetesRunner(options)
