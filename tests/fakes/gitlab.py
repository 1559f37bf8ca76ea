"""A fake GitLab REST API v4: create a pipeline, read it and its jobs, cancel it.

Shapes and status codes from GitLab's docs:
- create: https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline (201 with the pipeline:
  ``id``, ``iid``, ``project_id``, ``ref``, ``sha``, ``status``, ``source``, ``web_url``;
  ``variables`` as ``[{"key", "value", "variable_type"}]``; 400 ``{"message": {"base":
  ["Reference not found"]}}`` for an unknown ref)
- get: https://docs.gitlab.com/api/pipelines/#get-a-single-pipeline
- jobs: https://docs.gitlab.com/api/jobs/#list-pipeline-jobs
- cancel: https://docs.gitlab.com/api/pipelines/#cancel-all-jobs-for-a-pipeline (200 + pipeline)
- errors: https://docs.gitlab.com/api/rest/troubleshooting/#status-codes (``{"message":
  "401 Unauthorized"}``, ``"403 Forbidden"``, ``"404 Project Not Found"``)
- project paths are URL-encoded (``group%2Fproject``):
  https://docs.gitlab.com/api/rest/#namespaced-paths
- authentication with the ``PRIVATE-TOKEN`` header: https://docs.gitlab.com/api/rest/authentication/
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor


class FakeGitLab(FakeVendor):
    def __init__(self, *, token: str = "glpat-test", project: str = "acme/api", refs: tuple[str, ...] = ("main",)):
        super().__init__()
        self.token, self.project, self.refs = token, project, refs
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.next_id = 500
        self.steps = ["created", "pending", "running", "running", "success"]
        self.final_status = "success"
        self.never_finish = False
        self.created: list[dict[str, Any]] = []
        self.raw_paths: list[bytes] = []
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/api/v4/projects/{project:path}/pipeline", self.create, methods=["POST"]),
                    Route("/api/v4/projects/{project:path}/pipelines/{pid:int}", self.get, methods=["GET"]),
                    Route("/api/v4/projects/{project:path}/pipelines/{pid:int}/jobs", self.jobs, methods=["GET"]),
                    Route(
                        "/api/v4/projects/{project:path}/pipelines/{pid:int}/cancel",
                        self.cancel,
                        methods=["POST"],
                    ),
                ]
            )
        )

    async def _guard(self, request: Request) -> Response | None:
        self.raw_paths.append(request.scope.get("raw_path", b""))
        if (failure := await self.intercept(request)) is not None:
            return failure
        if request.headers.get("private-token") != self.token:
            return JSONResponse({"message": "401 Unauthorized"}, status_code=401)
        if request.path_params["project"] != self.project:
            return JSONResponse({"message": "404 Project Not Found"}, status_code=404)
        return None

    def _web_url(self, pid: int) -> str:
        return f"https://gitlab.example.com/{self.project}/-/pipelines/{pid}"

    async def create(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        body = await request.json()
        if body.get("ref") not in self.refs:
            return JSONResponse({"message": {"base": ["Reference not found"]}}, status_code=400)
        self.created.append(body)
        self.next_id += 1
        pipeline = {
            "id": self.next_id,
            "iid": self.next_id - 500,
            "project_id": 3,
            "ref": body["ref"],
            "sha": "b" * 40,
            "status": "created",
            "source": "api",
            "web_url": self._web_url(self.next_id),
            "_step": 0,
        }
        self.pipelines[self.next_id] = pipeline
        return JSONResponse(self._public(pipeline), status_code=201)

    @staticmethod
    def _public(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if not k.startswith("_")}

    async def get(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        p = self.pipelines.get(request.path_params["pid"])
        if p is None:
            return JSONResponse({"message": "404 Not found"}, status_code=404)
        if p["status"] not in ("canceled",):
            status = self.steps[min(p["_step"], len(self.steps) - 1)]
            if status == "success":
                status = "running" if self.never_finish else self.final_status
            p["status"] = status
            p["_step"] += 1
        return JSONResponse(self._public(p))

    async def jobs(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        p = self.pipelines[request.path_params["pid"]]
        build = "success" if p["_step"] > 3 else ("running" if p["status"] == "running" else "pending")
        deploy = p["status"] if p["_step"] > 3 else "created"
        return JSONResponse(
            [
                {
                    "id": 1,
                    "name": "build",
                    "stage": "build",
                    "status": build,
                    "web_url": self._web_url(p["id"]),
                },
                {
                    "id": 2,
                    "name": "deploy",
                    "stage": "deploy",
                    "status": deploy,
                    "web_url": self._web_url(p["id"]),
                },
            ]
        )

    async def cancel(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        p = self.pipelines[request.path_params["pid"]]
        p["status"] = "canceled"
        return JSONResponse(self._public(p))
