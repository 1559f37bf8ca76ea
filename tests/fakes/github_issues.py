"""A fake GitHub Issues REST API (API version 2022-11-28).

Shapes from GitHub's docs:
- create: https://docs.github.com/en/rest/issues/issues#create-an-issue (201 with ``number``,
  ``html_url``, ``state``, ``title``, ``body``, ``labels[].name``, ``user.login``; 410 when
  issues are disabled)
- get / update: https://docs.github.com/en/rest/issues/issues#get-an-issue and
  #update-an-issue (``state: closed``, ``state_reason: completed``)
- list: https://docs.github.com/en/rest/issues/issues#list-repository-issues
  (``state=all``, ``sort=created``, ``direction=desc``)
- comments: https://docs.github.com/en/rest/issues/comments#create-an-issue-comment (201) and
  #list-issue-comments
- errors: 422 ``{"message": "Validation Failed", "errors": [{"resource", "field", "code"}]}``
  (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#validation-failed),
  401 ``{"message": "Bad credentials"}``, 404 ``{"message": "Not Found"}``; rate
  limits 403/429 with ``retry-after`` or ``x-ratelimit-remaining: 0``:
  https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor

DOCS = "https://docs.github.com/rest"


class FakeGitHubIssues(FakeVendor):
    def __init__(self, *, token: str = "ghp_issues", repo: str = "acme/ops", login: str = "opsroom-bot") -> None:
        super().__init__()
        self.token, self.repo, self.login = token, repo, login
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.next = 41
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/repos/{owner}/{name}/issues", self.create, methods=["POST", "GET"]),
                    Route("/repos/{owner}/{name}/issues/{number:int}", self.issue, methods=["GET", "PATCH"]),
                    Route(
                        "/repos/{owner}/{name}/issues/{number:int}/comments",
                        self.comment,
                        methods=["GET", "POST"],
                    ),
                ]
            )
        )

    async def _pre(self, request: Request) -> Response | None:
        early = await self.intercept(request)
        if early is not None:
            return early
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Bad credentials", "documentation_url": DOCS}, status_code=401)
        repo = f"{request.path_params['owner']}/{request.path_params['name']}"
        number = request.path_params.get("number")
        if repo != self.repo or (number is not None and number not in self.issues):
            return JSONResponse({"message": "Not Found", "documentation_url": DOCS}, status_code=404)
        return None

    async def create(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        if request.method == "GET":  # list repository issues, newest first
            newest = sorted(self.issues.values(), key=lambda i: -int(i["number"]))
            return JSONResponse(newest[: int(request.query_params.get("per_page", "30"))])
        body = await request.json()
        if not str(body.get("title") or "").strip():
            return JSONResponse(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                    "documentation_url": DOCS,
                },
                status_code=422,
            )
        self.next += 1
        issue = {
            "number": self.next,
            "title": body["title"],
            "body": body.get("body"),
            "state": "open",
            "html_url": f"https://github.com/{self.repo}/issues/{self.next}",
            "labels": [{"name": n} for n in body.get("labels", [])],
            "user": {"login": self.login},
        }
        self.issues[self.next] = issue
        return JSONResponse(issue, status_code=201)

    async def issue(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        issue = self.issues[request.path_params["number"]]
        if request.method == "PATCH":
            issue.update(await request.json())
        return JSONResponse(issue)

    async def comment(self, request: Request) -> Response:
        if (early := await self._pre(request)) is not None:
            return early
        comments = self.comments.setdefault(request.path_params["number"], [])
        if request.method == "GET":
            return JSONResponse(comments)
        comment = {
            "id": len(comments) + 1,
            "body": (await request.json())["body"],
            "user": {"login": self.login},
        }
        comments.append(comment)
        return JSONResponse(comment, status_code=201)
