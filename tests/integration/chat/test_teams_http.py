"""Teams over HTTP: ``/teams/messages`` on opsroom's own server, every activity's JWT checked by
the Agents SDK's validator against a local JWKS (keys we generate), replies through a local
Bot Connector that enforces tokens, membership and throttling. SQLite and PostgreSQL.

Microsoft's key endpoint cannot be reached from a test, so the SDK's table of where each
issuer's keys live is pointed at the local JWKS; the validation code itself runs unchanged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization.connection_manager import ConnectionManager
from microsoft_agents.hosting.core.authorization.jwt import jwt_token_validator
from tests.fakes.bot_connector import (
    BOT_FRAMEWORK_ISSUER,
    FakeBotConnector,
    LocalTokenProvider,
    SigningKey,
    jwks_app,
)
from tests.fakes.chat_server import serve
from tests.support.system import make_system
from tests.support.teams_people import AAD, APP_ID, CONVERSATION, demo_with_teams_users

from opsroom.app import System
from opsroom.chat.teams import TeamsAdapter, TeamsError, http_adapter
from opsroom.config.chat import TeamsConfig
from opsroom.core import Message, Place, RunState
from opsroom.runs import store as run_store
from opsroom.web.app import build_app

BOT = f"28:{APP_ID}"
FORGED_ISSUER = "https://login.forged.example/"


@dataclass
class Live:
    system: System
    connector: FakeBotConnector
    channel_key: SigningKey
    url: str
    service_url: str
    http: httpx.AsyncClient

    def activity(self, text: str, who: str = "alice") -> dict[str, Any]:
        return {
            "type": "message",
            "id": f"act-{time.monotonic_ns()}",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "text": f"<at>opsroom</at> {text}",
            "from": {"id": f"29:{who}", "name": who.title(), "aadObjectId": AAD[who]},
            "recipient": {"id": BOT, "name": "opsroom"},
            "conversation": {"id": CONVERSATION, "conversationType": "channel"},
            "entities": [{"type": "mention", "text": "<at>opsroom</at>", "mentioned": {"id": BOT, "name": "opsroom"}}],
            "channelData": {"channel": {"id": CONVERSATION, "name": "ops"}},
        }

    def token(self, **claims: Any) -> str:
        return self.channel_key.token(**{"aud": APP_ID, "serviceurl": self.service_url, **claims})

    async def post(self, body: dict[str, Any], token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return await self.http.post(self.url + "/teams/messages", json=body, headers=headers)

    def runs(self) -> list[run_store.RunRow]:
        with self.system.db.read() as conn:
            return run_store.list_runs(conn, limit=100)

    async def until(self, check: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def live_http(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any] | None = None
) -> AsyncIterator[Live]:
    channel_key, bot_key = SigningKey(), SigningKey()
    connector = FakeBotConnector(
        bot_id=BOT,
        key=bot_key,
        members={CONVERSATION: {BOT, "29:alice", "29:carol"}},
        profiles={
            aad: {"id": f"29:{name}", "aadObjectId": aad, "userPrincipalName": f"{name}@example.com"}
            for name, aad in AAD.items()
        },
    )
    async with serve(jwks_app(channel_key)) as jwks_url, serve(connector.app()) as service_url:
        keys = jwt_token_validator.BOTFRAMEWORK_JWKS_URIS
        monkeypatch.setitem(keys, BOT_FRAMEWORK_ISSUER, jwks_url + "/keys")
        monkeypatch.setitem(keys, FORGED_ISSUER, jwks_url + "/keys")  # so the issuer check decides, not the lookup
        auth = AgentAuthConfiguration(client_id=APP_ID, client_secret="x", validate_issuer=True)  # noqa: S106
        connections = ConnectionManager(
            provider_factory=lambda c: LocalTokenProvider(c, bot_key),  # type: ignore[arg-type,return-value]
            connections_configurations={"SERVICE_CONNECTION": auth},
        )
        config = TeamsConfig(
            app_id=APP_ID,
            app_password="x",
            pace_seconds=0.0,  # noqa: S106
            local_service_urls=True,
        )
        teams = TeamsAdapter(
            config,
            channel_adapter=http_adapter(config, connections),
            connections=connections,
            store=tmp_path / "teams",
            signing_key=b"k",
            auth=auth,
        )
        system, _ = make_system(
            tmp_path,
            db_url,
            data or demo_with_teams_users(),
            adapter=teams,  # type: ignore[arg-type]
            monkeypatch=monkeypatch,
        )
        await system.start()
        try:
            async with serve(build_app(system, manage_lifecycle=False)) as url, httpx.AsyncClient(timeout=30) as http:
                yield Live(system, connector, channel_key, url, service_url, http)
        finally:
            await system.runs.drain()
            await system.stop()
            system.db.dispose()


async def test_a_signed_message_runs_and_its_card_is_refreshed_through_a_throttling_connector(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_http(tmp_path, db_url, monkeypatch) as live:
        live.connector.throttle(2)
        resp = await live.post(live.activity("deploy api-gateway staging"), live.token())
        assert resp.status_code == 202
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()

        def final_card() -> bool:
            return any("succeeded" in str(p.activity) and p.updates for p in live.connector.posted.values())

        await live.until(final_card)
        assert live.runs()[0].user == "alice"
        assert [s for s, _ in live.connector.refusals] == [429, 429], "throttled twice, retried after Retry-After"
        cards = [p for p in live.connector.posted.values() if "run #1" in str(p.activity)]
        assert len(cards) == 1, "one card for the run, refreshed in place"


def _tokens(live: Live) -> dict[str, str | None]:
    now = int(time.time())
    stranger = SigningKey()
    return {
        "missing": None,
        "malformed": "not.a.jwt",
        "wrong audience": live.token(aud="11111111-2222-3333-4444-555555555555"),
        "expired": live.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "wrong issuer": live.token(iss=FORGED_ISSUER),
        "unknown key": stranger.token(aud=APP_ID, serviceurl=live.service_url),
        "other service url": live.token(serviceurl="https://smba.forged.example/"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "malformed", "wrong audience", "expired", "wrong issuer", "unknown key", "other service url"]
)
async def test_an_activity_without_a_valid_token_is_refused_and_runs_nothing(
    case: str, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_http(tmp_path, db_url, monkeypatch) as live:
        resp = await live.post(live.activity("deploy api-gateway staging"), _tokens(live)[case])
        assert resp.status_code == 401
        await asyncio.sleep(0.5)
        assert live.runs() == [] and live.connector.posted == {}


async def test_once_the_bot_is_removed_from_a_conversation_posting_there_fails_clearly(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_http(tmp_path, db_url, monkeypatch) as live:
        assert (await live.post(live.activity("whoami"), live.token())).status_code == 202
        await live.until(lambda: bool(live.connector.posted))
        live.connector.members[CONVERSATION].discard(BOT)
        with pytest.raises(TeamsError, match="403"):
            await live.system.chat.send(Place("teams", CONVERSATION), Message.plain("🔥 payments down"))
        assert (403, "BotNotInConversationRoster") in live.connector.refusals


async def test_someone_the_directory_knows_only_by_email_is_mapped_by_their_upn(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = demo_with_teams_users()
    data["users"]["bob"]["identities"]["teams"] = "someone-else"  # bob's object id maps to nobody: only his email
    async with live_http(tmp_path, db_url, monkeypatch, data) as live:
        resp = await live.post(live.activity("deploy api-gateway staging", who="bob"), live.token())
        assert resp.status_code == 202
        await live.until(lambda: bool(live.runs()))
        assert live.runs()[0].user == "bob"
