"""What every fake vendor REST API shares: a record of the calls it received, a bearer/basic
token check, and failures a test queues up for the next matching calls (status, headers,
body, or a delay longer than the client's timeout), and a gateway in front that can answer
502 *after* the vendor acted (``fail_after_acting``): what a reverse proxy or load balancer
does when the upstream is slow to answer, and the case that must never start a job twice."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What nginx answers when the upstream does not answer in time.
GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body or b"null")


@dataclass
class Failure:
    method: str
    path_contains: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0  # sleep before answering (a timeout test sets it above the client's timeout)


class FakeVendor:
    """Subclasses build ``self.app`` (Starlette) and call ``await self.intercept(request)`` first
    in every handler: it records the call and answers with a queued failure if one matches."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.after_acting: list[Failure] = []

    def fail_after_acting(self, method: str, path_contains: str, status: int = 502, *, times: int = 1) -> None:
        """The next matching calls are carried out by the vendor, but the caller gets the
        gateway's ``status`` page instead of the vendor's answer."""
        self.after_acting.append(Failure(method.upper(), path_contains, status, times=times))

    def behind_gateway(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind a proxy that replaces answers queued with ``fail_after_acting``."""

        async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
            failure = next(
                (
                    f
                    for f in self.after_acting
                    if scope["type"] == "http"
                    and f.times
                    and f.method == scope["method"]
                    and f.path_contains in scope["path"]
                ),
                None,
            )
            if failure is None:
                await app(scope, receive, send)
                return
            failure.times -= 1

            async def swallow(message: Message) -> None:
                pass

            await app(scope, receive, swallow)  # the vendor acts; its answer is lost
            await send(
                {
                    "type": "http.response.start",
                    "status": failure.status,
                    "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(GATEWAY_PAGE)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": GATEWAY_PAGE})

        return gateway

    def fail(
        self,
        method: str,
        path_contains: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        self.failures.append(Failure(method.upper(), path_contains, status, body, headers or {}, times, delay))

    def called(self, method: str, path_contains: str) -> list[Call]:
        return [c for c in self.calls if c.method == method.upper() and path_contains in c.path]

    async def intercept(self, request: Request) -> Response | None:
        body = await request.body()
        self.calls.append(
            Call(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        for failure in self.failures:
            if failure.times and failure.method == request.method and failure.path_contains in request.url.path:
                failure.times -= 1
                if failure.delay:
                    await asyncio.sleep(failure.delay)
                if failure.body is None:
                    return Response(status_code=failure.status, headers=failure.headers)
                return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        return None
