"""A local stand-in for what Teams runs: the Bot Connector REST API (v3 conversations) and the
signing side of Bot Framework authentication (a key pair, its JWKS document, tokens).

It enforces what the real service enforces and the adapter must cope with:
- every call carries a bearer token signed by the channel's key for the Bot Framework audience;
- the bot can only post to a conversation it is a member of (403 BotNotInConversationRoster);
- an update must name an activity that exists in that conversation (404);
- messages over 28 KB are refused (413 MessageSizeTooBig);
- the roster (``GET …/members/{id}``) answers only for members, with their UPN;
- throttling: ``throttle(n)`` answers the next n calls with 429 and a Retry-After.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_AUDIENCE = "https://api.botframework.com"
MESSAGE_LIMIT = 28_000


class SigningKey:
    """An RSA key with a key id, published as a JWKS document."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": BOT_FRAMEWORK_ISSUER, "iat": now, "nbf": now - 5, "exp": now + 3600, **claims}
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None}, self.private, algorithm="RS256", headers={"kid": self.kid}
        )


def jwks_app(*keys: SigningKey) -> Starlette:
    async def keys_endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [k for key in keys for k in key.jwks()["keys"]]})

    return Starlette(routes=[Route("/keys", keys_endpoint)])


@dataclass
class Posted:
    conversation: str
    activity: dict[str, Any]
    reply_to: str | None = None
    updates: int = 0


@dataclass
class FakeBotConnector:
    bot_id: str
    key: SigningKey  # the key the bot's own outbound tokens are signed with (our MSAL stand-in)
    members: dict[str, set[str]] = field(default_factory=dict)  # base conversation id -> member ids
    posted: dict[str, Posted] = field(default_factory=dict)
    refusals: list[tuple[int, str]] = field(default_factory=list)
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)  # member id or object id -> roster entry
    _throttle: int = 0

    def throttle(self, calls: int) -> None:
        self._throttle = calls

    def _refuse(self, status: int, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
        self.refusals.append((status, code))
        return JSONResponse({"error": {"code": code, "message": code}}, status_code=status, headers=headers)

    def _check(self, request: Request, raw: bytes, conversation: str) -> JSONResponse | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            jwt.decode(token, self.key.private.public_key(), algorithms=["RS256"], audience=BOT_FRAMEWORK_AUDIENCE)
        except jwt.PyJWTError:
            return self._refuse(401, "Unauthorized")
        if self._throttle > 0:
            self._throttle -= 1
            return self._refuse(429, "Throttled", {"Retry-After": "0.2"})
        base = conversation.partition(";messageid=")[0]
        if self.bot_id not in self.members.get(base, set()):
            return self._refuse(403, "BotNotInConversationRoster")
        if len(raw) > MESSAGE_LIMIT:
            return self._refuse(413, "MessageSizeTooBig")
        return None

    async def _post(self, request: Request) -> JSONResponse:
        raw = await request.body()
        conversation = request.path_params["cid"]
        refused = self._check(request, raw, conversation)
        if refused is not None:
            return refused
        activity_id = uuid.uuid4().hex
        self.posted[activity_id] = Posted(conversation, json.loads(raw), request.path_params.get("aid"))
        return JSONResponse({"id": activity_id}, status_code=201)

    async def _put(self, request: Request) -> JSONResponse:
        raw = await request.body()
        conversation, activity_id = request.path_params["cid"], request.path_params["aid"]
        refused = self._check(request, raw, conversation)
        if refused is not None:
            return refused
        existing = self.posted.get(activity_id)
        if existing is None or existing.conversation.partition(";")[0] != conversation.partition(";")[0]:
            return self._refuse(404, "ActivityNotFoundInConversation")
        existing.activity, existing.updates = json.loads(raw), existing.updates + 1
        return JSONResponse({"id": activity_id})

    async def _member(self, request: Request) -> JSONResponse:
        conversation, member = request.path_params["cid"], request.path_params["mid"]
        refused = self._check(request, b"", conversation)
        if refused is not None:
            return refused
        profile = self.profiles.get(member)
        if profile is None:
            return self._refuse(404, "MemberNotFoundInConversation")
        return JSONResponse(profile)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/conversations/{cid}/members/{mid}", self._member, methods=["GET"]),
                Route("/v3/conversations/{cid}/activities", self._post, methods=["POST"]),
                Route("/v3/conversations/{cid}/activities/{aid}", self._post, methods=["POST"]),
                Route("/v3/conversations/{cid}/activities/{aid}", self._put, methods=["PUT"]),
            ]
        )


class LocalTokenProvider:
    """The bot's outbound credentials in tests: tokens for the Bot Framework audience signed
    with the fake connector's key, where production asks Entra through MSAL."""

    def __init__(self, configuration: Any, key: SigningKey) -> None:
        self._configuration = configuration
        self._key = key

    @property
    def configuration(self) -> Any:
        return self._configuration

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        return self._key.token(aud=BOT_FRAMEWORK_AUDIENCE, appid=self._configuration.CLIENT_ID)
