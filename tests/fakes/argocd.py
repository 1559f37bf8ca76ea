"""A fake Argo CD API server: sync, rollback, get application, terminate operation.

Shapes from Argo CD's API (the server's Swagger UI at ``/swagger-ui``, documented at
https://argo-cd.readthedocs.io/en/stable/developer-guide/api-docs/):
- ``POST /api/v1/applications/{name}/sync`` (``ApplicationSyncRequest``: ``revision``,
  ``prune``, ``dryRun``, ``appNamespace``) and ``POST …/rollback`` (``ApplicationRollbackRequest``:
  ``id``, ``prune``, ``dryRun``, ``appNamespace``) answer with the Application, whose ``operation``
  is set until the controller picks it up
- ``GET /api/v1/applications/{name}``: ``status.sync.status`` (Synced/OutOfSync/Unknown),
  ``status.health.status`` (Healthy/Progressing/Degraded/Suspended/Missing/Unknown:
  https://argo-cd.readthedocs.io/en/stable/operator-manual/health/), ``status.operationState``
  (``phase`` Running/Terminating/Succeeded/Failed/Error, ``message``, ``startedAt``,
  ``finishedAt``, ``syncResult.revision``), ``status.history[]`` (``id``, ``revision``)
- a sync's ``infos`` (``argocd app sync --info key=value``) are kept on the operation as
  ``operation.info`` and, once the controller runs it, ``status.operationState.operation.info``:
  https://argo-cd.readthedocs.io/en/stable/user-guide/commands/argocd_app_sync/
- ``DELETE /api/v1/applications/{name}/operation`` terminates the running operation
  (``argocd app terminate-op``)
- errors are gRPC statuses through grpc-gateway: ``{"error", "code", "message"}``; 401 code 16
  (Unauthenticated), 403 code 7 "permission denied: applications, sync, <project>/<app>…"
  (RBAC: https://argo-cd.readthedocs.io/en/stable/operator-manual/rbac/), 404 code 5; a rollback
  while auto-sync is on is FailedPrecondition (code 9, HTTP 400) "rollback cannot be initiated
  when auto-sync is enabled" (``argocd app rollback``:
  https://argo-cd.readthedocs.io/en/stable/user-guide/commands/argocd_app_rollback/)
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code, "message": message}, status_code=status)


class FakeArgoCD(FakeVendor):
    def __init__(self, *, token: str = "argo-jwt", app: str = "api") -> None:
        super().__init__()
        self.token, self.name = token, app
        self.auto_sync = False
        self.end_phase = "Succeeded"
        self.end_health = "Healthy"
        self.never_finish = False
        self.denied_actions: set[str] = set()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.terminated = 0
        self.application: dict[str, Any] = {
            "metadata": {"name": app, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": "https://git.example.com/acme/deploy.git",
                    "path": "api",
                    "targetRevision": "HEAD",
                },
            },
            "status": {
                "sync": {"status": "OutOfSync", "revision": "1111111"},
                "health": {"status": "Healthy"},
                "operationState": {
                    "phase": "Succeeded",
                    "message": "successfully synced (all tasks run)",
                    "startedAt": "2026-01-01T00:00:00Z",
                    "finishedAt": "2026-01-01T00:00:09Z",
                    "syncResult": {"revision": "1111111"},
                },
                "history": [{"id": 1, "revision": "0000000"}, {"id": 2, "revision": "1111111"}],
            },
        }
        self._step = -1
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/api/v1/applications/{name}", self.get, methods=["GET"]),
                    Route("/api/v1/applications/{name}/sync", self.sync, methods=["POST"]),
                    Route("/api/v1/applications/{name}/rollback", self.rollback, methods=["POST"]),
                    Route("/api/v1/applications/{name}/operation", self.terminate, methods=["DELETE"]),
                ]
            )
        )

    async def _guard(self, request: Request, action: str = "get") -> Response | None:
        if (failure := await self.intercept(request)) is not None:
            return failure
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, 16, "invalid session: token signature is invalid")
        name = request.path_params["name"]
        if action in self.denied_actions:
            return _error(403, 7, f"permission denied: applications, {action}, default/{name}, sub: opsroom")
        if name != self.name:
            return _error(404, 5, f'applications.argoproj.io "{name}" not found')
        return None

    def _start(self, kind: str, body: dict[str, Any]) -> JSONResponse:
        self.requests.append((kind, body))
        self.application["operation"] = {
            "sync": {"revision": body.get("revision", "")},
            "initiatedBy": {"username": "opsroom"},
            **({"info": body["infos"]} if body.get("infos") else {}),
        }
        self._step = 0
        self._target = body.get("revision") or dict(
            (h["id"], h["revision"]) for h in self.application["status"]["history"]
        ).get(body.get("id"), "2222222")
        return JSONResponse(self.application)

    async def sync(self, request: Request) -> Response:
        if (denied := await self._guard(request, "sync")) is not None:
            return denied
        if "operation" in self.application:
            return _error(400, 9, "another operation is already in progress")
        return self._start("sync", await request.json())

    async def rollback(self, request: Request) -> Response:
        if (denied := await self._guard(request, "sync")) is not None:
            return denied
        if self.auto_sync:
            return _error(400, 9, "rollback cannot be initiated when auto-sync is enabled")
        return self._start("rollback", await request.json())

    async def get(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        status = self.application["status"]
        if self._step >= 0:
            self._step += 1
            if self._step == 2:  # the controller takes the operation
                operation = self.application.pop("operation", None)
                status["operationState"] = {
                    "operation": operation,
                    "phase": "Running",
                    "message": "one or more tasks are running",
                    "startedAt": "2026-02-02T10:00:00Z",
                }
                status["health"]["status"] = "Progressing"
            elif self._step == 3 and not self.never_finish and status["operationState"]["phase"] == "Running":
                op = status["operationState"]
                op.update(
                    phase=self.end_phase,
                    finishedAt="2026-02-02T10:00:07Z",
                    message="successfully synced (all tasks run)"
                    if self.end_phase == "Succeeded"
                    else "one or more objects failed to apply",
                    syncResult={"revision": self._target},
                )
                if self.end_phase == "Succeeded":
                    status["sync"] = {
                        "status": "Synced" if self.requests[-1][0] == "sync" else "OutOfSync",
                        "revision": self._target,
                    }
            elif self._step == 4 and status["operationState"]["phase"] == "Succeeded":
                status["health"]["status"] = self.end_health
        return JSONResponse(self.application)

    async def terminate(self, request: Request) -> Response:
        if (denied := await self._guard(request, "sync")) is not None:
            return denied
        op = self.application["status"]["operationState"]
        if op.get("phase") != "Running":
            return _error(400, 9, "Unable to terminate operation. No operation is in progress")
        self.terminated += 1
        op.update(phase="Failed", message="Operation terminated")
        return JSONResponse({})
