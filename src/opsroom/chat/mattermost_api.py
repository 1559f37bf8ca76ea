"""Mattermost's REST API v4: one call with 429 handling and readable errors, and cached
user look-ups. Shared by the adapter's inbound and outbound halves."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any

import httpx

from opsroom.core import OpsroomError

log = logging.getLogger("opsroom.chat.mattermost")

USER_CACHE_SECONDS = 3600.0
MAX_429_RETRIES = 3


class MattermostError(OpsroomError):
    """The Mattermost server refused a request; the message is the server's own."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class MattermostApi:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(MAX_429_RETRIES + 1):
            resp = await self.http.request(method, path, json=body)
            if resp.status_code == 429 and attempt < MAX_429_RETRIES:
                retry_after = resp.headers.get("retry-after", "1")
                await asyncio.sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 1.0)
                continue
            if resp.status_code >= 400:
                try:
                    detail = resp.json().get("message", "")
                except ValueError:
                    detail = resp.text[:200]
                raise MattermostError(
                    f"Mattermost {method} {path} failed ({resp.status_code}): {detail}", resp.status_code
                )
            return resp.json() if resp.content else {}
        raise AssertionError("unreachable")

    async def user(self, user_id: str) -> dict[str, Any]:
        if not user_id:
            return {}
        cached = self._users.get(user_id)
        if cached and time.monotonic() - cached[0] < USER_CACHE_SECONDS:
            return cached[1]
        info: dict[str, Any]
        try:
            info = dict(await self.call("GET", f"/users/{urllib.parse.quote(user_id, safe='')}"))
        except (MattermostError, httpx.HTTPError) as exc:
            log.warning("mattermost: looking up user %s failed: %s", user_id, exc)
            info = {}
        self._users[user_id] = (time.monotonic(), info)
        return info
