"""Alertmanager API v2: create, expire and list silences; which alerts are still active."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote, urlsplit

from opsroom.errors import IntegrationError

if TYPE_CHECKING:
    import httpx


class AlertmanagerError(IntegrationError):
    """Alertmanager could not be reached or refused the request."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerClient:
    """``base_url`` is the Alertmanager's external URL (``http://am:9093``, or with a path
    prefix); requests go to ``<base_url>/api/v2/...``."""

    def __init__(self, base_url: str, *, http: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AlertmanagerError(f"{base_url!r} is not an http(s) Alertmanager URL")
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._timeout = timeout

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx  # on the first request: the alerts service loads this module at start

        client = self._http or httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await client.request(method, self.base_url + path, timeout=self._timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise AlertmanagerError(f"Alertmanager at {self.base_url} is unreachable ({type(exc).__name__})") from None
        finally:
            if self._http is None:
                await client.aclose()
        if response.status_code >= 400:
            detail = response.text[:200].strip()
            raise AlertmanagerError(f"Alertmanager refused ({response.status_code}): {detail}")
        return response

    async def create_silence(
        self,
        matchers: Mapping[str, str],
        *,
        starts_at: dt.datetime,
        ends_at: dt.datetime,
        created_by: str,
        comment: str,
    ) -> str:
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(matchers.items())
            ],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment or "silenced from opsroom",
        }
        response = await self._request("POST", "/api/v2/silences", json=body)
        silence_id = response.json().get("silenceID", "")
        if not isinstance(silence_id, str) or not silence_id:
            raise AlertmanagerError("Alertmanager did not return a silence id")
        return silence_id

    async def expire_silence(self, silence_id: str) -> None:
        await self._request("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")

    async def active_fingerprints(self, matchers: Mapping[str, str]) -> set[str]:
        """Fingerprints of the alerts matching ``matchers`` that Alertmanager still holds as
        active, silenced or inhibited ones included (resolved ones are left out by the API)."""
        params: list[tuple[str, str]] = [
            ("filter", f"{name}={json.dumps(value)}") for name, value in sorted(matchers.items())
        ]
        params += [(flag, "true") for flag in ("active", "silenced", "inhibited", "unprocessed")]
        data = (await self._request("GET", "/api/v2/alerts", params=params)).json()
        if not isinstance(data, list):
            raise AlertmanagerError("Alertmanager answered /api/v2/alerts with something other than a list")
        return {a["fingerprint"] for a in data if isinstance(a, dict) and isinstance(a.get("fingerprint"), str)}
