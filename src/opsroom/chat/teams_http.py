"""The Teams adapter's HTTP entry: who may call ``POST /teams/messages`` and how the Agents
SDK's framework-neutral adapter is fed from a Starlette request.

The caller is authenticated before the body is read: the bearer token is checked by the SDK's
``JwtTokenValidator`` (signature from the published keys, audience = app id, issuer allow-list
on, expiry); the activity's serviceUrl must be the host the token names; the SDK's host
validator accepts only Microsoft's service hosts (plus ``service_hosts``).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from microsoft_agents.hosting.core import AgentAuthConfiguration, ClaimsIdentity, Connections
from microsoft_agents.hosting.core._http_adapter_base import HttpAdapterBase
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.security import OutboundHostValidator
from starlette.requests import Request

from opsroom.config.chat import TeamsConfig

log = logging.getLogger("opsroom.chat.teams")


async def authenticate(auth: AgentAuthConfiguration | None, header: str) -> ClaimsIdentity | None:
    """The caller's claims, or None when the bearer token does not validate. ``auth`` None
    (local development without auth) accepts anyone, as an empty identity."""
    if auth is None:
        return ClaimsIdentity({})
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    try:
        return await JwtTokenValidator(auth).validate_token(token)
    except Exception as exc:  # any failure to validate is a refusal, never a crash
        log.warning("teams: refused an activity: %s", type(exc).__name__)
        return None


def same_service_host(claims: ClaimsIdentity, body: dict[str, Any]) -> bool:
    """The activity's serviceUrl is where opsroom will send the answer (with its credentials):
    it must be the host the token names. The SDK checks this too, but only with its host
    validator on, which local development turns off."""
    claimed = claims.get_claim_value("serviceurl")
    if not claimed:
        return True  # anonymous (local development) or a token without the claim: the SDK's checks apply
    return bool(
        urllib.parse.urlsplit(str(claimed)).hostname
        == urllib.parse.urlsplit(str(body.get("serviceUrl") or "")).hostname
    )


class StarletteRequest:
    """The SDK's ``HttpRequestProtocol`` over an already-read Starlette request."""

    def __init__(self, request: Request, body: dict[str, Any], claims: ClaimsIdentity) -> None:
        self._request, self._body, self._claims = request, body, claims

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._request.headers)

    async def json(self) -> dict[str, Any]:
        return self._body

    def get_claims_identity(self) -> ClaimsIdentity:
        return self._claims

    def get_path_param(self, name: str) -> str:
        return str(self._request.path_params.get(name, ""))


class StarletteHttpAdapter(HttpAdapterBase):
    """The SDK's HTTP adapter logic (activity checks, service URL claim, invoke responses,
    outbound connector clients), fed by our Starlette route instead of an aiohttp server."""


def http_adapter(config: TeamsConfig, connections: Connections) -> StarletteHttpAdapter:
    """The SDK adapter with its host validator on: only Microsoft's service hosts (plus
    ``service_hosts``) are accepted as an activity's serviceUrl, and the URL's host must match
    the token's ``serviceurl`` claim — so a valid token cannot point opsroom elsewhere."""
    validator = OutboundHostValidator(config.service_hosts, enabled=not config.local_service_urls)
    return StarletteHttpAdapter(connection_manager=connections, host_validator=validator)
