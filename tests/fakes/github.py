"""A fake GitHub Actions REST API: workflow dispatch, workflow runs, jobs, cancel.

Shapes and status codes from GitHub's REST docs (API version 2022-11-28):
- dispatch: https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
  (204 No Content; with ``return_run_details: true`` 200 with ``workflow_run_id``, ``run_url``,
  ``html_url``: https://github.blog/changelog/2026-02-19-workflow-dispatch-api-now-returns-run-ids)
- runs: https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow
  and #get-a-workflow-run (``status``: queued/in_progress/completed, ``conclusion``,
  ``head_branch``, ``event``, ``actor.login``, ``created_at``, ``html_url``)
- jobs: https://docs.github.com/en/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run
- cancel: https://docs.github.com/en/rest/actions/workflow-runs#cancel-a-workflow-run
  (202 Accepted; 409 Conflict when the run cannot be cancelled)
- ``display_title`` is the workflow's ``run-name`` rendered with the dispatch inputs:
  https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#run-name
- inputs the workflow does not declare are refused with 422 "Unexpected inputs provided":
  https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
- listings are eventually consistent: a new run shows in the list only after a while
  (``hidden_polls``), as GitHub's own docs on finding a dispatched run warn.
- errors: 401 ``{"message": "Bad credentials"}``; 403/404 with ``message`` and
  ``documentation_url``: https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
- rate limits (403/429, ``retry-after``, ``x-ratelimit-remaining``/``-reset``):
  https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor

DOCS = "https://docs.github.com/rest"


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(FakeVendor):
    def __init__(
        self,
        *,
        token: str = "ghp_test",
        repo: str = "acme/api",
        workflow: str = "deploy.yml",
        actor: str = "opsroom-bot",
    ) -> None:
        super().__init__()
        self.token, self.repo, self.workflow, self.actor = token, repo, workflow, actor
        self.runs: dict[int, dict[str, Any]] = {}
        self.next_id = 9000
        self.run_details = True  # False: an API that ignores return_run_details (204 always)
        self.rejects_run_details = False  # True: an older GHES answering 422 to the unknown key
        self.hidden_polls = 1  # a new run shows in lists only after this many list calls
        self.steps = ["queued", "in_progress", "in_progress", "completed"]  # one step per GET run
        self.conclusion = "success"
        self.never_finish = False
        self.forbid_dispatch = False
        self.dispatches: list[dict[str, Any]] = []
        #: Primary rate limit: requests allowed per window; beyond it, 403 with
        #: ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` (epoch seconds), as GitHub does.
        self.rate_limit: int | None = None
        self.rate_window = 1.0
        self.rate_limited = 0
        self._used, self._reset_at = 0, 0.0
        #: The workflow's ``on.workflow_dispatch.inputs``; None accepts any (no check).
        self.declared_inputs: set[str] | None = None
        #: The input the workflow's ``run-name`` shows (``run-name: Deploy ${{ inputs.X }}``).
        self.run_name_input = ""
        #: Titles of runs a colleague dispatches in the same second as our next dispatch.
        self.simultaneous: list[str] = []
        # Someone else's run on the same workflow, already there before we dispatch.
        self._add_run(
            branch="main",
            actor="someone-else",
            created=datetime.now(UTC) - timedelta(hours=1),
            status="completed",
            conclusion="success",
            visible_after=0,
        )
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/repos/{owner}/{name}/actions/workflows/{wf}/dispatches", self.dispatch, methods=["POST"]),
                    Route("/repos/{owner}/{name}/actions/workflows/{wf}/runs", self.list_runs, methods=["GET"]),
                    Route("/repos/{owner}/{name}/actions/runs/{run_id:int}", self.get_run, methods=["GET"]),
                    Route("/repos/{owner}/{name}/actions/runs/{run_id:int}/jobs", self.jobs, methods=["GET"]),
                    Route("/repos/{owner}/{name}/actions/runs/{run_id:int}/cancel", self.cancel, methods=["POST"]),
                ]
            )
        )

    # -- helpers ---------------------------------------------------------------------------

    def _add_run(
        self,
        *,
        branch: str,
        actor: str,
        created: datetime,
        status: str = "queued",
        conclusion: str | None = None,
        visible_after: int = 0,
        title: str = "Deploy",
    ) -> dict[str, Any]:
        self.next_id += 1
        run_id = self.next_id
        run = {
            "id": run_id,
            "name": "Deploy",
            "display_title": title,
            "run_number": run_id - 9000,
            "event": "workflow_dispatch",
            "head_branch": branch,
            "head_sha": "a" * 40,
            "status": status,
            "conclusion": conclusion,
            "workflow_id": 161335,
            "created_at": _ts(created),
            "updated_at": _ts(created),
            "actor": {"login": actor},
            "triggering_actor": {"login": actor},
            "url": f"https://api.github.com/repos/{self.repo}/actions/runs/{run_id}",
            "html_url": f"https://github.com/{self.repo}/actions/runs/{run_id}",
            "_step": 0,
            "_visible_after": visible_after,
        }
        self.runs[run_id] = run
        return run

    def colleague_dispatch(self, *, seconds_ago: float, hidden_polls: int = 0, title: str = "Deploy") -> int:
        """Someone else dispatched the same workflow on main ``seconds_ago``; the run shows in
        listings only after ``hidden_polls`` list calls."""
        run = self._add_run(
            branch="main",
            actor=self.actor,  # the same bot account: many teams share one token
            created=datetime.now(UTC) - timedelta(seconds=seconds_ago),
            visible_after=hidden_polls,
            title=title,
        )
        return int(run["id"])

    @staticmethod
    def _public(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    async def _guard(self, request: Request) -> Response | None:
        failure = await self.intercept(request)
        if failure is not None:
            return failure
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Bad credentials", "documentation_url": DOCS}, status_code=401)
        if self.rate_limit is not None:
            now = time.time()
            if now >= self._reset_at:
                self._used, self._reset_at = 0, now + self.rate_window
            if self._used >= self.rate_limit:
                self.rate_limited += 1
                return JSONResponse(
                    {"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS},
                    status_code=403,
                    headers={
                        "x-ratelimit-limit": str(self.rate_limit),
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(math.ceil(self._reset_at)),
                    },
                )
            self._used += 1
        repo = f"{request.path_params['owner']}/{request.path_params['name']}"
        wf = request.path_params.get("wf", self.workflow)
        if repo != self.repo or wf != self.workflow:
            return JSONResponse({"message": "Not Found", "documentation_url": DOCS}, status_code=404)
        return None

    # -- endpoints -------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        if self.forbid_dispatch:
            return JSONResponse(
                {"message": "Resource not accessible by personal access token", "documentation_url": DOCS},
                status_code=403,
            )
        body = await request.json()
        if self.rejects_run_details and "return_run_details" in body:
            return JSONResponse(
                {
                    "message": 'Invalid request.\n\n"return_run_details" is not a permitted key.',
                    "documentation_url": DOCS,
                },
                status_code=422,
            )
        inputs = body.get("inputs") or {}
        unexpected = sorted(set(inputs) - self.declared_inputs) if self.declared_inputs is not None else []
        if unexpected:
            return JSONResponse(
                {"message": f"Unexpected inputs provided: {unexpected}", "documentation_url": DOCS},
                status_code=422,
            )
        self.dispatches.append(body)
        for other in self.simultaneous:
            self.colleague_dispatch(seconds_ago=0, title=other)
        self.simultaneous = []
        title = f"Deploy {inputs.get(self.run_name_input, '')}".strip() if self.run_name_input else "Deploy"
        run = self._add_run(
            branch=body["ref"].removeprefix("refs/heads/"),
            actor=self.actor,
            created=datetime.now(UTC),
            visible_after=self.hidden_polls,
            title=title,
        )
        if body.get("return_run_details") and self.run_details:
            return JSONResponse({"workflow_run_id": run["id"], "run_url": run["url"], "html_url": run["html_url"]})
        return Response(status_code=204)

    async def list_runs(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        q = request.query_params
        out = []
        for run in sorted(self.runs.values(), key=lambda r: -r["id"]):
            if run["_visible_after"] > 0:
                run["_visible_after"] -= 1
                continue
            if q.get("branch") and run["head_branch"] != q["branch"]:
                continue
            if q.get("event") and run["event"] != q["event"]:
                continue
            if q.get("actor") and run["actor"]["login"] != q["actor"]:
                continue
            if q.get("created", "").startswith(">=") and run["created_at"] < q["created"][2:]:
                continue
            out.append(self._public(run))
        return JSONResponse({"total_count": len(out), "workflow_runs": out})

    def _advance(self, run: dict[str, Any]) -> None:
        if run["status"] == "completed":
            return
        step = min(run["_step"], len(self.steps) - 1)
        status = self.steps[step]
        if self.never_finish and status == "completed":
            status = "in_progress"
        run["status"] = status
        if status == "completed":
            run["conclusion"] = self.conclusion
        run["_step"] += 1

    async def get_run(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        run = self.runs.get(request.path_params["run_id"])
        if run is None:
            return JSONResponse({"message": "Not Found", "documentation_url": DOCS}, status_code=404)
        self._advance(run)
        return JSONResponse(self._public(run))

    async def jobs(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        run = self.runs[request.path_params["run_id"]]
        build_done = run["status"] == "completed" or run["_step"] >= 3
        jobs = [
            {
                "id": 1,
                "run_id": run["id"],
                "name": "build",
                "status": "completed" if build_done else run["status"],
                "conclusion": "success" if build_done else None,
            },
            {
                "id": 2,
                "run_id": run["id"],
                "name": "deploy",
                "status": run["status"] if build_done else "queued",
                "conclusion": run["conclusion"],
            },
        ]
        return JSONResponse({"total_count": len(jobs), "jobs": jobs})

    async def cancel(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        run = self.runs.get(request.path_params["run_id"])
        if run is None:
            return JSONResponse({"message": "Not Found", "documentation_url": DOCS}, status_code=404)
        if run["status"] == "completed":
            return JSONResponse(
                {"message": "Cannot cancel a workflow run that is completed.", "documentation_url": DOCS},
                status_code=409,
            )
        run["status"], run["conclusion"] = "completed", "cancelled"
        return JSONResponse({}, status_code=202)
