"""Signing in and out of the web chat and console.

Passwords are checked against argon2 (or bcrypt) hashes from ``users.<name>.password_hash``.
With ``demo: true`` a demo user without a password hash may sign in by name alone, and the
page says that this is a demo. Attempts are rate limited per address and per user name;
the sign-in form carries its own CSRF token (a cookie that must match the form field).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from opsroom.web import sessions
from opsroom.web.context import LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebContext, new_login_csrf, with_headers
from opsroom.web.passwords import verify_password

MAX_FIELD = 200


def safe_next(target: str | None) -> str:
    """Only a path on this server: never an absolute or protocol-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/chat"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/chat"
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def routes(ctx: WebContext) -> list[BaseRoute]:
    hashing = asyncio.Semaphore(1)

    def demo_users() -> list[dict[str, Any]]:
        if not ctx.config.demo:
            return []
        return [
            {
                "name": name,
                "label": user.display_name or name,
                "roles": ", ".join(user.roles),
                "needs_password": bool(user.password_hash),
            }
            for name, user in ctx.config.users.items()
        ]

    def form(request: Request, error: str = "", status: int = 200, username: str = "") -> Response:
        token = new_login_csrf()
        response = ctx.render(
            "login.html",
            request,
            None,
            status=status,
            error=error,
            csrf=token,
            demo_users=demo_users(),
            username=username,
            next=safe_next(request.query_params.get("next")),
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=ctx.secure_cookies, path="/login"
        )
        return response

    async def login_page(request: Request) -> Response:
        if ctx.session_viewer(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return form(request)

    async def login(request: Request) -> Response:
        data = await request.form()
        username = str(data.get("username", ""))[:MAX_FIELD].strip()
        password = str(data.get("password", ""))[:1000]
        supplied = str(data.get("csrf", ""))
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not supplied or not expected or not hmac.compare_digest(supplied, expected):
            return form(request, "Your sign-in form expired; please try again.", 400, username)
        address = client_address(request)
        wait = ctx.limiter.retry_after(address, username)
        if wait > 0:
            response = form(request, f"Too many sign-in attempts; try again in {int(wait) + 1} seconds.", 429, username)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        ctx.limiter.attempt(address)
        user = ctx.config.users.get(username)
        if user is not None and ctx.config.demo and not user.password_hash and not password:
            ok = True  # the demo: sign in by name
        else:
            stored = user.password_hash if user is not None else ""
            # argon2 takes tens of milliseconds of CPU on purpose: in a worker thread (it
            # releases the GIL), one at a time, so a burst of sign-ins queues here instead of
            # taking every core from chat, webhooks and /healthz.
            async with hashing:
                ok = await asyncio.to_thread(verify_password, stored, password) and user is not None
        if not ok or ctx.directory().get(username) is None:
            ctx.limiter.failed(username)
            return form(request, "Unknown user or wrong password.", 401, username)
        ctx.limiter.succeeded(username)
        hours = ctx.config.chat.web.session_hours
        cookie, _session = sessions.create_session(ctx.system.db, username, hours=hours)
        with ctx.system.db.begin() as conn:
            ctx.system.audit.append(
                conn,
                actor=username,
                action="web.signin",
                platform="web",
                summary=f"{username} signed in to the web console",
                detail={"address": address},
            )
        response = RedirectResponse(safe_next(str(data.get("next", "")) or None), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=ctx.secure_cookies,
            max_age=int(hours * 3600),
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return with_headers(response)

    async def logout(request: Request) -> Response:
        viewer = ctx.session_viewer(request)
        if viewer is not None:
            data = await request.form()
            if not ctx.csrf_ok(viewer, str(data.get("csrf", ""))):
                return Response("The form expired; reload the page and try again.", status_code=403)
            ctx.session_cache.end(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return with_headers(response)

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
