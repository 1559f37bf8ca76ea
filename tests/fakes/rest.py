"""What every fake vendor REST API shares: a record of the calls it received, a bearer/basic
token check, and failures a test queues up for the next matching calls (status, headers,
body, or a delay longer than the client's timeout)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


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
        self.failures.append(
            Failure(method.upper(), path_contains, status, body, headers or {}, times, delay)
        )

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
            if (
                failure.times
                and failure.method == request.method
                and failure.path_contains in request.url.path
            ):
                failure.times -= 1
                if failure.delay:
                    await asyncio.sleep(failure.delay)
                if failure.body is None:
                    return Response(status_code=failure.status, headers=failure.headers)
                return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        return None
