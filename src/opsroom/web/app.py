"""The ASGI app served by ``opsroom run``: health, metrics, and the routes each configured
part contributes (chat adapters' webhooks, alert intake, web chat, JSON API)."""

from __future__ import annotations

import contextlib
import hmac
import os
from typing import TYPE_CHECKING, AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from opsroom.web.intake import BodyLimit
from opsroom.web.routes import web_routes

if TYPE_CHECKING:
    from opsroom.app import System

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def metrics_refusal(request: Request, token_env: str) -> Response | None:
    """/metrics answers a Prometheus that sends the configured bearer token; with no token
    configured, only callers on this machine (a Prometheus or an agent on the host)."""
    if token_env:
        expected = os.environ.get(token_env, "")
        given = request.headers.get("authorization", "")
        if expected and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return None
        return JSONResponse({"error": "send the metrics bearer token (server.metrics_token_env)"}, status_code=401)
    if request.client is not None and request.client.host in LOOPBACK:
        return None
    return JSONResponse(
        {
            "error": "metrics are served to this machine only; set server.metrics_token_env "
            "to let a remote Prometheus scrape with a bearer token"
        },
        status_code=403,
    )


def build_app(system: System, *, manage_lifecycle: bool = True) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        try:
            with system.db.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:
            return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        # Load balancers probe this without credentials, so it says nothing but the status.
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        refusal = metrics_refusal(request, system.config.server.metrics_token_env)
        if refusal is not None:
            return refusal
        from opsroom.metrics import exposition

        body, media_type = exposition()
        return Response(body, media_type=media_type)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
    for adapter in system.chat.adapters.values():
        adapter_routes = getattr(adapter, "routes", None)
        if callable(adapter_routes):
            routes.extend(adapter_routes())
    routes.extend(system.http_routes)
    routes.extend(web_routes(system))  # web chat, console, JSON API (opsroom.web.routes)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await system.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await system.stop()

    server = system.config.server
    middleware = [Middleware(BodyLimit, max_bytes=server.max_body_bytes)]
    if server.trusted_proxies:  # else X-Forwarded-* are ignored: the peer address is the client
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(server.trusted_proxies)))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.system = system
    return app
