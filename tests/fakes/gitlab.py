"""A fake GitLab REST API v4: create a pipeline, read it and its jobs, cancel it.

Shapes and status codes from GitLab's docs:
- create: https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline (201 with the pipeline:
  ``id``, ``iid``, ``project_id``, ``ref``, ``sha``, ``status``, ``source``, ``web_url``;
  ``variables`` as ``[{"key", "value", "variable_type"}]``; 400 ``{"message": {"base":
  ["Reference not found"]}}`` for an unknown ref)
- list: https://docs.gitlab.com/api/pipelines/#list-project-pipelines (``ref``, ``source``,
  ``order_by=id``, ``sort``, ``per_page``) and the variables a pipeline was created with:
  https://docs.gitlab.com/api/pipelines/#get-variables-of-a-pipeline
- who may pass variables (``ci_pipeline_variables_minimum_override_role``; new projects
  since 17.7 default to nobody): 400 "Insufficient permissions to set pipeline variables":
  https://docs.gitlab.com/ci/variables/#restrict-pipeline-variables
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
        self.variables_allowed = True
        #: Variables of pipelines a colleague creates via the API right after our next one.
        self.simultaneous: list[dict[str, str]] = []
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/api/v4/projects/{project:path}/pipeline", self.create, methods=["POST"]),
                    Route("/api/v4/projects/{project:path}/pipelines", self.list, methods=["GET"]),
                    Route(
                        "/api/v4/projects/{project:path}/pipelines/{pid:int}/variables",
                        self.variables,
                        methods=["GET"],
                    ),
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
        if body.get("variables") and not self.variables_allowed:
            return JSONResponse(
                {"message": {"base": ["Insufficient permissions to set pipeline variables"]}}, status_code=400
            )
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
            "_variables": [
                {"key": v["key"], "value": v["value"], "variable_type": "env_var"} for v in body.get("variables") or []
            ],
        }
        self.pipelines[self.next_id] = pipeline
        for other in self.simultaneous:
            self.add_pipeline(source="api", variables=other)
        self.simultaneous = []
        return JSONResponse(self._public(pipeline), status_code=201)

    @staticmethod
    def _public(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if not k.startswith("_")}

    def add_pipeline(self, *, source: str, variables: dict[str, str], ref: str = "main") -> int:
        """A pipeline someone else started (a push, a colleague's API call)."""
        self.next_id += 1
        self.pipelines[self.next_id] = {
            "id": self.next_id,
            "iid": self.next_id - 500,
            "project_id": 3,
            "ref": ref,
            "sha": "c" * 40,
            "status": "running",
            "source": source,
            "web_url": self._web_url(self.next_id),
            "_step": 2,
            "_variables": [{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()],
        }
        return self.next_id

    async def list(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        q = request.query_params
        rows = [
            self._public(p)
            for p in self.pipelines.values()
            if (not q.get("ref") or p["ref"] == q["ref"]) and (not q.get("source") or p["source"] == q["source"])
        ]
        rows.sort(key=lambda p: int(p["id"]), reverse=q.get("sort", "desc") == "desc")
        return JSONResponse(rows[: int(q.get("per_page", "20"))])

    async def variables(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        p = self.pipelines.get(request.path_params["pid"])
        if p is None:
            return JSONResponse({"message": "404 Not found"}, status_code=404)
        return JSONResponse(p["_variables"])

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
