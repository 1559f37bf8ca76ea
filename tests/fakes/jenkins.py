"""A fake Jenkins: CSRF crumb, buildWithParameters, queue item, build, console, stop.

Shapes and status codes from Jenkins' docs:
- remote access API, ``buildWithParameters`` answering 201 Created with ``Location:
  …/queue/item/N/``, ``/queue/item/N/api/json`` with ``why``, ``cancelled`` and
  ``executable.number``/``url``: https://www.jenkins.io/doc/book/using/remote-access-api/
- CSRF crumbs, ``/crumbIssuer/api/json`` → ``{"crumb", "crumbRequestField": "Jenkins-Crumb"}``,
  bound to the web session (cookie) since 2.176.2, 403 "No valid crumb was included in the
  request": https://www.jenkins.io/doc/book/security/csrf-protection/
- build JSON (``building``, ``result``: SUCCESS/FAILURE/ABORTED/UNSTABLE, ``number``, ``url``):
  https://www.jenkins.io/doc/book/using/remote-access-api/ (…/lastBuild/api/json)
- progressive console (``logText/progressiveText?start=N`` with ``X-Text-Size`` and
  ``X-More-Data``): https://javadoc.jenkins.io/hudson/console/AnnotatedLargeText.html
- the queue, ``/queue/api/json`` → ``{"items": [{"id", "task": {"url"}, "actions":
  [{"parameters": [{"name", "value"}]}]}]}`` (items leave it once they start), and a job's
  ``api/json`` with ``nextBuildNumber`` and ``builds[number,queueId,actions[parameters]]``:
  https://www.jenkins.io/doc/book/using/remote-access-api/ (``tree`` queries)
- parameters the job does not define are dropped, and those not sent take their defaults
  (SECURITY-170):
  https://www.jenkins.io/doc/upgrade-guide/2.263/ and
  https://www.jenkins.io/security/advisory/2016-05-11/
- abort: POST ``…/N/stop`` (302 to the build page):
  https://www.jenkins.io/doc/book/using/aborting-a-build/
- take out of the queue: POST ``/queue/cancelItem?id=N``:
  https://javadoc.jenkins.io/hudson/model/Queue.html#doCancelItem(long)
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from tests.fakes.rest import FakeVendor


def _error_page(status: int, message: str) -> str:
    """Jenkins' (Jetty's) HTML error page: the reason is in the title and an h2."""
    return (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"<title>Error {status} {message}</title>\n</head>\n<body><h2>HTTP ERROR {status} {message}</h2>\n"
        f"<table>\n<tr><th>URI:</th><td>/job/deploy/job/api/buildWithParameters</td></tr>\n"
        f"<tr><th>STATUS:</th><td>{status}</td></tr>\n</table>\n</body>\n</html>\n"
    )


class FakeJenkins(FakeVendor):
    def __init__(self, *, user: str = "opsroom", token: str = "11aa22bb", job: str = "deploy/api") -> None:
        super().__init__()
        self.user, self.token, self.job = user, token, job
        self.crumbs_enabled = True
        self.queue_polls = 2  # polls of the queue item before it gets an executor
        self.build_polls = 3  # polls of the build before it finishes
        self.result = "SUCCESS"
        self.never_finish = False
        self.queue: dict[int, dict[str, Any]] = {}
        self.builds: dict[int, dict[str, Any]] = {}
        self.next_queue_id, self.next_build = 100, 41
        self.sessions: dict[str, str] = {}  # session cookie -> crumb
        self.stopped: list[int] = []
        self.cancelled_items: list[int] = []
        self.params: list[dict[str, str]] = []
        #: The job's parameter definitions, name → default; None: accept whatever is sent.
        #: Like Jenkins, undefined parameters are dropped and the build's ParametersAction
        #: lists every defined parameter, defaults included.
        self.definitions: dict[str, str] | None = None
        self.app = self.behind_gateway(
            Starlette(
                routes=[
                    Route("/crumbIssuer/api/json", self.crumb, methods=["GET"]),
                    Route("/queue/item/{qid:int}/api/json", self.queue_item, methods=["GET"]),
                    Route("/queue/cancelItem", self.cancel_item, methods=["POST"]),
                    Route("/queue/api/json", self.queue_list, methods=["GET"]),
                    Route("/{job:path}/buildWithParameters", self.build_with_parameters, methods=["POST"]),
                    Route("/{job:path}/build", self.build_with_parameters, methods=["POST"]),
                    Route("/{job:path}/{number:int}/api/json", self.build, methods=["GET"]),
                    Route("/{job:path}/{number:int}/logText/progressiveText", self.console, methods=["GET"]),
                    Route("/{job:path}/{number:int}/stop", self.stop, methods=["POST"]),
                    Route("/{job:path}/api/json", self.job_json, methods=["GET"]),
                ]
            )
        )

    @property
    def base(self) -> str:
        return "http://jenkins.example.com"  # Jenkins' configured root URL, as in its answers

    def _job_name(self, path: str) -> str:
        parts = path.strip("/").split("/")
        return "/".join(parts[1::2]) if parts[0::2] == ["job"] * len(parts[0::2]) else "?"

    async def _guard(self, request: Request, *, post: bool = False) -> Response | None:
        if (failure := await self.intercept(request)) is not None:
            return failure
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return PlainTextResponse(
                "Unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="Jenkins"'}
            )
        if post and self.crumbs_enabled:
            session = request.cookies.get("JSESSIONID.fake", "")
            if not session or request.headers.get("jenkins-crumb") != self.sessions.get(session):
                return HTMLResponse(_error_page(403, "No valid crumb was included in the request"), status_code=403)
        return None

    async def crumb(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        if not self.crumbs_enabled:
            return PlainTextResponse("Not Found", status_code=404)
        session, crumb = f"s{len(self.sessions)}", f"crumb{len(self.sessions)}"
        self.sessions[session] = crumb
        response = JSONResponse(
            {
                "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                "crumb": crumb,
                "crumbRequestField": "Jenkins-Crumb",
            }
        )
        response.set_cookie("JSESSIONID.fake", session)
        return response

    async def build_with_parameters(self, request: Request) -> Response:
        if (denied := await self._guard(request, post=True)) is not None:
            return denied
        if self._job_name(request.path_params["job"]) != self.job:
            return PlainTextResponse("Not Found", status_code=404)
        params = dict(parse_qsl((await request.body()).decode()))
        if self.definitions is not None:
            params = {name: params.get(name, default) for name, default in self.definitions.items()}
        self.params.append(params)
        self.next_queue_id += 1
        self.queue[self.next_queue_id] = {"polls": 0, "params": params}
        return Response(status_code=201, headers={"Location": f"{self.base}/queue/item/{self.next_queue_id}/"})

    async def queue_item(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        qid = request.path_params["qid"]
        item = self.queue.get(qid)
        if item is None:
            return PlainTextResponse("Not Found", status_code=404)
        body: dict[str, Any] = {
            "_class": "hudson.model.Queue$WaitingItem",
            "id": qid,
            "blocked": False,
            "buildable": True,
            "cancelled": item.get("cancelled", False),
            "why": "Waiting for next available executor",
            "executable": None,
        }
        item["polls"] += 1
        if item.get("cancelled"):
            body["_class"] = "hudson.model.Queue$LeftItem"
        elif item["polls"] > self.queue_polls:
            if "number" not in item:
                self.next_build += 1
                item["number"] = self.next_build
                self.builds[self.next_build] = {
                    "polls": 0,
                    "log": "Started by user opsroom\n",
                    "queueId": qid,
                    "params": item["params"],
                }
            number = item["number"]
            body.update(
                {
                    "_class": "hudson.model.Queue$LeftItem",
                    "why": None,
                    "executable": {
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                        "number": number,
                        "url": f"{self.base}/job/deploy/job/api/{number}/",
                    },
                }
            )
        return JSONResponse(body)

    @staticmethod
    def _actions(params: dict[str, str]) -> list[dict[str, Any]]:
        parameters = [{"_class": "hudson.model.StringParameterValue", "name": k, "value": v} for k, v in params.items()]
        return [{"_class": "hudson.model.ParametersAction", "parameters": parameters}]

    async def queue_list(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        items = [
            {
                "_class": "hudson.model.Queue$WaitingItem",
                "id": qid,
                "task": {"name": "api", "url": f"{self.base}/job/deploy/job/api/"},
                "actions": self._actions(item["params"]),
            }
            for qid, item in self.queue.items()
            if "number" not in item and not item.get("cancelled")
        ]
        return JSONResponse({"_class": "hudson.model.Queue", "items": items})

    async def job_json(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        if self._job_name(request.path_params["job"]) != self.job:
            return PlainTextResponse("Not Found", status_code=404)
        builds = [
            {"number": n, "queueId": b["queueId"], "actions": self._actions(b["params"])}
            for n, b in sorted(self.builds.items(), reverse=True)
        ]
        return JSONResponse({"nextBuildNumber": self.next_build + 1, "builds": builds})

    async def cancel_item(self, request: Request) -> Response:
        if (denied := await self._guard(request, post=True)) is not None:
            return denied
        qid = int(request.query_params["id"])
        self.cancelled_items.append(qid)
        self.queue[qid]["cancelled"] = True
        return RedirectResponse(f"{self.base}/queue/", status_code=302)

    async def build(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        number = request.path_params["number"]
        b = self.builds.get(number)
        if b is None or self._job_name(request.path_params["job"]) != self.job:
            return PlainTextResponse("Not Found", status_code=404)
        b["polls"] += 1
        if "result" not in b:
            b["log"] += f"step {b['polls']}\n"
            if b["polls"] >= self.build_polls and not self.never_finish:
                b["result"] = self.result
                b["log"] += f"Finished: {self.result}\n"
        return JSONResponse(
            {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                "number": number,
                "building": "result" not in b,
                "result": b.get("result"),
                "url": f"{self.base}/job/deploy/job/api/{number}/",
            }
        )

    async def console(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        b = self.builds[request.path_params["number"]]
        start = int(request.query_params.get("start", "0"))
        log = b["log"].encode()
        headers = {"X-Text-Size": str(len(log))}
        if "result" not in b:
            headers["X-More-Data"] = "true"
        return PlainTextResponse(log[start:].decode(), headers=headers)

    async def stop(self, request: Request) -> Response:
        if (denied := await self._guard(request, post=True)) is not None:
            return denied
        number = request.path_params["number"]
        self.stopped.append(number)
        b = self.builds[number]
        b["result"] = "ABORTED"
        b["log"] += "Aborted by opsroom\nFinished: ABORTED\n"
        return RedirectResponse(f"{self.base}/job/deploy/job/api/{number}/", status_code=302)
