"""What every web handler needs: the system, the web chat adapter, templates, and the
checks of who is asking (session cookie for pages, bearer token for the JSON API)."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup, escape
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from opsroom.core import Place, Principal
from opsroom.web import sessions
from opsroom.web.ratelimit import AttemptLimiter

if TYPE_CHECKING:
    from jinja2 import Environment

    from opsroom.app import System
    from opsroom.config.models import OpsroomConfig
    from opsroom.directory import Directory

HERE = Path(__file__).parent
SESSION_COOKIE = "opsroom_session"
LOGIN_CSRF_COOKIE = "opsroom_login_csrf"
# Where console actions (approve from the console, run pages) happen, for policy and audit:
# a private place of the signed-in person, like a DM.
CONSOLE_PLACE = Place("web", "console", is_direct=True)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


_ID = re.compile(r"[0-9]{1,17}")


def parse_id(value: str | None) -> int | None:
    """A positive id from a query string (ASCII digits, bounded), else None."""
    return int(value) if value and _ID.fullmatch(value) and int(value) > 0 else None


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<' can end the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _refs(value: Any) -> Markup:
    """Escaped text whose ``run #N``, ``ticket #N``, ``alert #N``, ``INC-N`` and chat thread
    URLs are links (the same as the web chat's)."""
    from opsroom.chat.web.refs import link_refs

    return Markup(link_refs(str(escape(str(value)))))  # noqa: S704 - escaped first


@dataclass
class Viewer:
    principal: Principal
    csrf: str = ""
    via: str = "session"  # "session" | "token"


@dataclass
class WebContext:
    system: System
    adapter: Any  # WebChatAdapter | None
    limiter: AttemptLimiter = field(init=False)
    _env: Environment | None = field(init=False, default=None)
    session_cache: sessions.SessionCache = field(init=False)

    def __post_init__(self) -> None:
        web = self.system.config.chat.web
        self.limiter = AttemptLimiter(
            per_address=web.signin_attempts_per_address,
            per_user=web.signin_failures_per_user,
            window=web.signin_window_seconds,
        )
        self.session_cache = sessions.SessionCache(self.system.db)

    @property
    def env(self) -> Environment:
        """The page templates, set up at the first page (jinja2 is not needed to be ready)."""
        if self._env is None:
            from jinja2 import Environment, FileSystemLoader, select_autoescape

            env = Environment(
                loader=FileSystemLoader(str(HERE / "templates")),
                autoescape=select_autoescape(default=True, default_for_string=True),
            )
            env.filters["tojson_script"] = _json_for_script
            env.filters["refs"] = _refs
            self._env = env
        return self._env

    # -- config ----------------------------------------------------------------------------------
    @property
    def config(self) -> OpsroomConfig:
        return self.system.config

    @property
    def secure_cookies(self) -> bool:
        return str(self.config.server.public_url).startswith("https://")

    def directory(self) -> Directory:
        return self.system.engine.parts.directory

    # -- who is asking -----------------------------------------------------------------------------
    def session_viewer(self, conn: HTTPConnection) -> Viewer | None:
        cookie = conn.cookies.get(SESSION_COOKIE, "")
        if not cookie:
            return None
        session = self.session_cache.load(cookie)
        if session is None:
            return None
        principal = self.directory().get(session.user)
        if principal is None:  # removed from the config since signing in
            return None
        return Viewer(principal, session.csrf)

    def token_viewer(self, request: Request) -> Viewer | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = sessions.check_token(self.system.db, token.strip())
        if user is None:
            return None
        principal = self.directory().get(user)
        return Viewer(principal, via="token") if principal is not None else None

    @staticmethod
    def csrf_ok(viewer: Viewer, supplied: str | None) -> bool:
        return bool(supplied) and bool(viewer.csrf) and hmac.compare_digest(str(supplied), viewer.csrf)

    def may(self, principal: Principal, action: str) -> bool:
        """A console page is allowed when the matching chat command would be."""
        decision = self.system.engine.parts.policy.decide(principal, action, {}, CONSOLE_PLACE)
        return bool(decision.allowed)

    # -- responses ---------------------------------------------------------------------------------
    def render(
        self, name: str, request: Request, viewer: Viewer | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        template = self.env.get_template(name)
        if viewer is not None and "approvals_waiting" not in values:
            values["approvals_waiting"] = self.approvals_waiting(viewer)
        html = template.render(
            request=request, viewer=viewer, demo=self.config.demo, nav=values.pop("nav", ""), **values
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def approvals_waiting(self, viewer: Viewer) -> int:
        """How many runs wait for this person's vote (the Approvals badge)."""
        guardrails = self.system.engine.guardrails
        if guardrails is None:
            return 0
        theirs, _mine = guardrails.waiting_for(viewer.principal)
        return len(theirs)

    def page_gate(self, request: Request, permission: str) -> tuple[Viewer | None, Response | None]:
        """A console page's door: the signed-in viewer, or the answer instead of the page (the
        sign-in redirect, or a 403 naming the permission it needs)."""
        viewer = self.session_viewer(request)
        if viewer is None:
            return None, self.to_login(request)
        if not self.may(viewer.principal, permission):
            return viewer, self.render(
                "error.html",
                request,
                viewer,
                status=403,
                nav="",
                message=f"You may not use this page (it needs permission for `{permission}`).",
            )
        return viewer, None

    def to_login(self, request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def api_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="opsroom"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def with_headers(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
