"""The ASGI app served by ``opsroom run``: health, metrics, and the routes each configured
part contributes (chat adapters' webhooks, alert intake, web chat, JSON API)."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from opsroom import __version__
from opsroom.web.routes import web_routes


def build_app(system: Any, *, manage_lifecycle: bool = True) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        try:
            with system.db.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:
            return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "demo": system.config.demo,
                             "running_runs": len(system.runs.live)})

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

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

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.system = system
    return app
