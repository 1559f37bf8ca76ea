"""A fake Jira REST API (v2 and v3): create issue, get issue, comment, transitions,
remote links.

Shapes from Atlassian's docs:
- create: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
  (201 ``{"id", "key", "self"}``)
- get: .../api-group-issues/#api-rest-api-3-issue-issueidorkey-get (``fields.summary``,
  ``fields.status.name``, ``fields.status.statusCategory.key`` = new/indeterminate/done)
- comment: .../api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post (201)
- transitions: .../api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get
  (``{"transitions": [{"id", "name", "to": {"name"}}]}``) and POST (204)
- remote links: .../api-group-issue-remote-links/#api-rest-api-3-issue-issueidorkey-remotelink-post (201)
- v2 (Server/Data Center) takes plain strings where v3 takes ADF documents:
  https://developer.atlassian.com/server/jira/platform/jira-rest-api-examples/
- search: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
  (``/search/jql`` on Cloud v3, ``/search`` on v2; ``{"issues": [{"key"}]}``); the index is
  eventually consistent, so a new issue is found only after ``index_lag`` searches:
  https://developer.atlassian.com/cloud/jira/platform/search-and-reconcile/
- create validation, answered 400 with ``errors`` per field: a summary with a line break
  ("The summary is invalid because it contains newline characters."), longer than 255
  ("Summary must be less than 255 characters."), a label with a space ("The label 'x y'
  contains spaces which is invalid."), a priority when the create screen has none ("Field
  'priority' cannot be set. It is not on the appropriate screen, or unknown.")
- errors: ``{"errorMessages": [...], "errors": {}}``; 401 without a body on bad credentials;
  429 with Retry-After: https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor

STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}


class FakeJira(FakeVendor):
    def __init__(self, *, email: str = "bot@example.com", token: str = "jira-token", project: str = "OPS") -> None:
        super().__init__()
        self.email, self.token, self.project = email, token, project
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[Any]] = {}
        self.links: dict[str, list[dict[str, Any]]] = {}
        self.next = 100
        self.index_lag = 1  # searches that do not see a new issue yet
        self.priority_on_screen = True
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/rest/api/{v:int}/issue", self.create, methods=["POST"]),
                    Route("/rest/api/3/search/jql", self.search, methods=["GET"]),
                    Route("/rest/api/2/search", self.search, methods=["GET"]),
                    Route("/rest/api/{v:int}/issue/{key}", self.get, methods=["GET"]),
                    Route("/rest/api/{v:int}/issue/{key}/comment", self.comment, methods=["POST"]),
                    Route("/rest/api/{v:int}/issue/{key}/transitions", self.transitions, methods=["GET", "POST"]),
                    Route("/rest/api/{v:int}/issue/{key}/remotelink", self.remotelink, methods=["POST"]),
                ]
            )
        )

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return header in (basic, f"Bearer {self.token}")

    async def _pre(self, request: Request) -> Response | None:
        early = await self.intercept(request)
        if early is not None:
            return early
        if not self._authorized(request):
            return Response(status_code=401)
        key = request.path_params.get("key")
        if key is not None and key not in self.issues:
            return JSONResponse(
                {
                    "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                    "errors": {},
                },
                status_code=404,
            )
        return None

    async def create(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        fields = (await request.json())["fields"]
        if fields["project"]["key"] != self.project:
            return JSONResponse(
                {"errorMessages": [], "errors": {"project": "valid project is required"}}, status_code=400
            )
        errors = self._invalid(fields)
        if errors:
            return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
        self.next += 1
        key = f"{self.project}-{self.next}"
        self.issues[key] = {
            "id": str(10000 + self.next),
            "fields": {**fields, "status": "To Do"},
            "version": request.path_params["v"],
            "_unindexed": self.index_lag,
        }
        return JSONResponse(
            {
                "id": str(10000 + self.next),
                "key": key,
                "self": f"{request.base_url}rest/api/3/issue/{10000 + self.next}",
            },
            status_code=201,
        )

    def _invalid(self, fields: dict[str, Any]) -> dict[str, str]:
        errors = {}
        summary = str(fields.get("summary") or "")
        if "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for label in fields.get("labels") or []:
            if " " in label:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "priority" in fields and not self.priority_on_screen:
            errors["priority"] = "Field 'priority' cannot be set. It is not on the appropriate screen, or unknown."
        return errors

    async def search(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        # Only the JQL opsroom sends: project = "X" AND labels = "L"
        jql = request.query_params.get("jql", "")
        wanted = [part.split("=", 1)[1].strip().strip('"') for part in jql.split(" AND ")]
        found = []
        for key, issue in self.issues.items():
            if issue["_unindexed"] > 0:
                issue["_unindexed"] -= 1
                continue
            if wanted[0] == self.project and wanted[1:] and wanted[1] in issue["fields"].get("labels", []):
                found.append({"id": issue["id"], "key": key})
        return JSONResponse({"issues": found, "isLast": True})

    async def get(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        key = request.path_params["key"]
        issue = self.issues[key]
        f = issue["fields"]
        return JSONResponse(
            {
                "id": issue["id"],
                "key": key,
                "fields": {
                    "summary": f["summary"],
                    "description": f.get("description"),
                    "priority": f.get("priority"),
                    "status": {"name": f["status"], "statusCategory": {"key": STATUSES[f["status"]]}},
                },
            }
        )

    async def comment(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        body = (await request.json())["body"]
        self.comments.setdefault(request.path_params["key"], []).append(body)
        return JSONResponse({"id": "1", "body": body}, status_code=201)

    async def transitions(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        issue = self.issues[request.path_params["key"]]
        available = {"11": ("Start progress", "In Progress"), "31": ("Done", "Done")}
        if request.method == "GET":
            return JSONResponse(
                {"transitions": [{"id": i, "name": n, "to": {"name": to}} for i, (n, to) in available.items()]}
            )
        chosen = (await request.json())["transition"]["id"]
        if chosen not in available:
            return JSONResponse({"errorMessages": ["Transition id is not valid"], "errors": {}}, status_code=400)
        issue["fields"]["status"] = available[chosen][1]
        return Response(status_code=204)

    async def remotelink(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        self.links.setdefault(request.path_params["key"], []).append((await request.json())["object"])
        return JSONResponse({"id": 1, "self": "x"}, status_code=201)
