"""Every route of the web chat, console and JSON API, for ``opsroom.web.app.build_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from opsroom.web import alert_pages, api, console, incidents, signin, tickets
from opsroom.web.context import HERE, WebContext

if TYPE_CHECKING:
    from opsroom.app import System


def web_routes(system: System) -> list[BaseRoute]:
    """Binds the web chat adapter (if configured) to the system and returns the routes."""
    adapter = system.chat.adapters.get("web")
    if adapter is not None and hasattr(adapter, "bind"):
        adapter.bind(system)
    else:
        adapter = None
    ctx = WebContext(system, adapter)
    found: list[BaseRoute] = [Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    found += signin.routes(ctx)
    if adapter is not None:
        from opsroom.web import chat

        found += chat.routes(ctx)
    found += console.routes(ctx)
    found += incidents.routes(ctx)
    found += tickets.routes(ctx)
    found += alert_pages.routes(ctx)
    found += api.routes(ctx)
    return found
