"""A fake Kubernetes API server for one Deployment, its ReplicaSets and pods.

Paths, objects and status codes from the Kubernetes API reference (v1.30+):
- Deployment (apps/v1): https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
  GET/PATCH ``/apis/apps/v1/namespaces/{ns}/deployments/{name}`` (strategic merge patch and
  JSON patch), PATCH ``…/{name}/scale`` (autoscaling/v1 Scale); ``status.observedGeneration``,
  ``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``, ``conditions``
  (Progressing/ProgressDeadlineExceeded)
- ReplicaSet: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
  (annotation ``deployment.kubernetes.io/revision``, ``ownerReferences`` to the Deployment)
- Pod list and log: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
  (``GET /api/v1/namespaces/{ns}/pods?labelSelector=``, ``…/pods/{name}/log?tailLines=&container=``)
- errors are ``Status`` objects: https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind
  (``{"kind":"Status","status":"Failure","message","reason":"Forbidden"|"NotFound"…,"code"}``);
  429 with ``Retry-After`` from API Priority and Fairness:
  https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
- ``kubectl rollout restart`` sets ``kubectl.kubernetes.io/restartedAt`` on the pod template;
  ``kubectl rollout undo`` restores a ReplicaSet's template:
  https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor

REVISION = "deployment.kubernetes.io/revision"


def status_error(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
        status_code=code,
    )


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeKubernetes(FakeVendor):
    def __init__(self, *, token: str = "k8s-token", namespace: str = "prod", name: str = "api") -> None:
        super().__init__()
        self.token, self.namespace, self.name = token, namespace, name
        self.rollout_polls = 2  # reads of the Deployment before a new rollout completes
        self.stuck = False  # the rollout exceeds its progress deadline
        self.forbidden_verbs: set[str] = set()  # e.g. {"patch"}
        self.patches: list[tuple[str, str, Any]] = []  # (path, content-type, body)
        self._pending = 0
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": "dep-uid-1",
                "generation": 3,
                "annotations": {REVISION: "3"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": name}},
                "template": self._template("v3"),
            },
            "status": {
                "observedGeneration": 3,
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            },
        }
        self.replicasets: list[dict[str, Any]] = [self._rs(r, f"v{r}") for r in (1, 2, 3)]
        # Someone else's ReplicaSet with the same labels (not owned by our Deployment).
        stray = self._rs(7, "stray")
        stray["metadata"]["ownerReferences"][0]["uid"] = "other-uid"
        self.replicasets.append(stray)
        self.app = Starlette(
            routes=[
                Route(
                    "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                    self.deployment_endpoint,
                    methods=["GET", "PATCH"],
                ),
                Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", self.scale, methods=["PATCH"]),
                Route("/apis/apps/v1/namespaces/{ns}/replicasets", self.list_replicasets, methods=["GET"]),
                Route("/api/v1/namespaces/{ns}/pods", self.list_pods, methods=["GET"]),
                Route("/api/v1/namespaces/{ns}/pods/{pod}/log", self.pod_log, methods=["GET"]),
            ]
        )

    def _template(self, image_tag: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": self.name}},
            "spec": {"containers": [{"name": "api", "image": f"registry.example.com/api:{image_tag}"}]},
        }

    def _rs(self, revision: int, tag: str) -> dict[str, Any]:
        template = self._template(tag)
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        template["metadata"]["labels"]["pod-template-hash"] = digest
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{self.name}-{digest}",
                "namespace": self.namespace,
                "annotations": {REVISION: str(revision)},
                "labels": {"app": self.name},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": self.name,
                        "uid": "dep-uid-1",
                        "controller": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": self.name}}, "template": template},
            "status": {"replicas": 0},
        }

    @property
    def image(self) -> str:
        return str(self.deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    async def _guard(self, request: Request, verb: str) -> Response | None:
        if (failure := await self.intercept(request)) is not None:
            return failure
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return status_error(401, "Unauthorized", "Unauthorized")
        ns = request.path_params["ns"]
        if verb in self.forbidden_verbs:
            resource = request.url.path.split("/")[-1] if "/scale" not in request.url.path else "deployments/scale"
            return status_error(
                403,
                "Forbidden",
                f'deployments.apps "{self.name}" is forbidden: User '
                f'"system:serviceaccount:ops:opsroom" cannot {verb} resource "{resource}" in API '
                f'group "apps" in the namespace "{ns}"',
            )
        if ns != self.namespace or request.path_params.get("name", self.name) != self.name:
            return status_error(404, "NotFound", f'deployments.apps "{request.path_params.get("name")}" not found')
        return None

    def _start_rollout(self) -> None:
        meta, status = self.deployment["metadata"], self.deployment["status"]
        meta["generation"] += 1
        self._pending = self.rollout_polls
        status["updatedReplicas"] = 0

    def _advance(self) -> None:
        meta, status, spec = self.deployment["metadata"], self.deployment["status"], self.deployment["spec"]
        if self._pending <= 0:
            return
        self._pending -= 1
        status["observedGeneration"] = meta["generation"]
        if self.stuck:
            status["conditions"][1] = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{self.name}-x" has timed out progressing.',
            }
            self._pending = 1
            return
        if self._pending > 0:
            status.update(updatedReplicas=1, replicas=spec["replicas"] + 1, availableReplicas=spec["replicas"])
        else:
            status.update(
                updatedReplicas=spec["replicas"],
                replicas=spec["replicas"],
                readyReplicas=spec["replicas"],
                availableReplicas=spec["replicas"],
            )

    async def deployment_endpoint(self, request: Request) -> Response:
        verb = "get" if request.method == "GET" else "patch"
        if (denied := await self._guard(request, verb)) is not None:
            return denied
        if request.method == "PATCH":
            content_type = request.headers.get("content-type", "")
            body = json.loads(await request.body())
            self.patches.append((request.url.path, content_type, body))
            if content_type == "application/json-patch+json":
                for op in body:
                    assert op["op"] == "replace" and op["path"] == "/spec/template", op
                    self.deployment["spec"]["template"] = op["value"]
            else:
                _merge(self.deployment, body)
            revision = (
                max(
                    int(rs["metadata"]["annotations"][REVISION])
                    for rs in self.replicasets
                    if rs["metadata"]["ownerReferences"][0]["uid"] == "dep-uid-1"
                )
                + 1
            )
            self.deployment["metadata"]["annotations"][REVISION] = str(revision)
            self._start_rollout()
        else:
            self._advance()
        return JSONResponse(self.deployment)

    async def scale(self, request: Request) -> Response:
        if (denied := await self._guard(request, "patch")) is not None:
            return denied
        body = json.loads(await request.body())
        self.patches.append((request.url.path, request.headers.get("content-type", ""), body))
        self.deployment["spec"]["replicas"] = body["spec"]["replicas"]
        self._start_rollout()
        return JSONResponse(
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"replicas": body["spec"]["replicas"]},
                "status": {"replicas": 3},
            }
        )

    async def list_replicasets(self, request: Request) -> Response:
        if (denied := await self._guard(request, "list")) is not None:
            return denied
        assert request.query_params.get("labelSelector") == f"app={self.name}"
        return JSONResponse(
            {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": self.replicasets}
        )

    def _pods(self) -> list[dict[str, Any]]:
        return [
            {
                "metadata": {
                    "name": f"{self.name}-abc-{i}",
                    "namespace": self.namespace,
                    "labels": {"app": self.name},
                },
                "spec": {"containers": [{"name": "api", "image": self.image}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "api",
                            "image": self.image,
                            "imageID": "sha256:1",
                            "ready": i != 2,
                            "restartCount": 4 if i == 2 else 0,
                        }
                    ],
                },
            }
            for i in range(self.deployment["spec"]["replicas"])
        ]

    async def list_pods(self, request: Request) -> Response:
        if (denied := await self._guard(request, "list")) is not None:
            return denied
        pods = self._pods()
        limit = int(request.query_params.get("limit", "0") or 0)
        return JSONResponse(
            {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods[:limit] if limit else pods}
        )

    async def pod_log(self, request: Request) -> Response:
        if (denied := await self._guard(request, "get")) is not None:
            return denied
        tail = int(request.query_params.get("tailLines", "1000"))
        lines = [f"{request.path_params['pod']} line {n}" for n in range(1, 51)]
        return PlainTextResponse("\n".join(lines[-tail:]) + "\n")
