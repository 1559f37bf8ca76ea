"""Multi-workspace Slack, end to end: two workspaces install opsroom through the OAuth v2 flow
(install page → Slack's code → our redirect → oauth.v2.access), their tokens are kept
encrypted in our database, each workspace's commands are answered in that workspace with its
own token, policy tells ``#ops@acme`` from ``#ops@beta``, and an uninstall removes one
workspace (audited) while the other keeps working. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from tests.fakes.chat_server import serve
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, TEAM, FakeSlack, event_callback, slash_command
from tests.integration.chat.slack_harness import fake_slack, form, signed_headers
from tests.support.system import demo_data, make_system

from opsroom.app import System
from opsroom.chat.slack import SlackAdapter
from opsroom.chat.slack.tables import slack_installations
from opsroom.config.chat import SlackConfig
from opsroom.core import RunState
from opsroom.runs import store as run_store
from opsroom.web.app import build_app

BETA = "T0000BETA"
BOB = {"id": "U0BOB", "name": "bob", "real_name": "Bob", "profile": {"display_name": "bob", "email": "bob@example.com"}}


def config(fake_url: str, **overrides: Any) -> SlackConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "signing_secret": SIGNING_SECRET,
        "base_url": fake_url + "/api/",
        "pace_seconds": 0.0,
        "workspaces": {TEAM: "acme", BETA: "beta"},
    }
    values.update(overrides)
    return SlackConfig(**values)


def data() -> dict[str, Any]:
    out = demo_data()
    out["users"]["alice"]["identities"]["slack"] = "U0ALICE"
    out["users"]["bob"]["identities"]["slack"] = "U0BOB"
    out["commands"]["echo"] = {
        "summary": "says it back",
        "args": [{"name": "text", "type": "string", "required": False, "default": "hi"}],
        "runner": {"type": "python", "callable": "tests.support.commands:echo"},
    }
    # Only in acme's #ops: the same channel name in beta is another place.
    out["policy"]["rules"].append(
        {"id": "echo-in-acme-ops", "allow": ["echo"], "users": ["*"], "channels": ["#ops@acme"]}
    )
    return out


@dataclass
class Live:
    system: System
    fake: FakeSlack
    url: str
    http: httpx.AsyncClient

    async def install(self, team: str, installer: str) -> httpx.Response:
        """An admin of ``team`` opens the install page, Slack sends the browser back with a code."""
        page = await self.http.get(self.url + "/slack/install")
        assert page.status_code == 200
        link = html.unescape(re.search(r'href="(https://slack.com/oauth/v2/authorize[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        assert f"client_id={CLIENT_ID}" in link and "chat:write" in link
        state = re.search(r"state=([^&]+)", link).group(1)  # type: ignore[union-attr]
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        code = self.fake.authorize(team, installer)
        return await self.http.get(
            self.url + "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
        )

    async def command(self, team: str, user: str, channel: str, text: str, trigger: str) -> httpx.Response:
        body = form(
            slash_command(
                "/ops",
                text,
                user=user,
                channel=channel,
                channel_name="ops",
                trigger_id=trigger,
                team=team,
                response_url=self.fake.response_url(trigger, user),
            )
        )
        return await self.http.post(
            self.url + "/slack/commands",
            content=body,
            headers=signed_headers(body, content_type="application/x-www-form-urlencoded"),
        )

    async def event(self, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload)
        return await self.http.post(self.url + "/slack/events", content=body, headers=signed_headers(body))

    def runs(self) -> list[run_store.RunRow]:
        with self.system.db.read() as conn:
            return run_store.list_runs(conn, limit=100)

    def audit(self, action: str) -> list[Any]:
        return [e for e in self.system.audit.search("", limit=500) if e.action == action]

    async def until(self, check: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def two_workspaces(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    async with fake_slack() as fake:
        fake.tokens.clear()  # nothing is installed yet: no token works anywhere
        fake.team_names[TEAM] = "Acme"
        fake.workspace(BETA, "Beta", {"C0BOPS": "ops"}, {"U0BOB": BOB})
        adapter = SlackAdapter(config(fake.base_url))
        system, _ = make_system(tmp_path, db_url, data(), adapter=adapter, monkeypatch=monkeypatch)  # type: ignore[arg-type]
        await system.start()
        try:
            async with serve(build_app(system, manage_lifecycle=False)) as url, httpx.AsyncClient(timeout=10) as http:
                yield Live(system, fake, url, http)
        finally:
            await system.stop()
            system.db.dispose()


async def test_two_workspaces_install_answer_in_their_own_workspace_and_one_uninstalls(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workspaces(tmp_path, db_url, monkeypatch) as live:
        fake = live.fake
        for team, installer in ((TEAM, "U0ALICE"), (BETA, "U0BOB")):
            done = await live.install(team, installer)
            assert done.status_code == 200, done.text
        with live.system.db.read() as conn:
            rows = {r.team_id: r for r in conn.execute(select(slack_installations))}
        assert set(rows) == {TEAM, BETA}
        minted = [t for t, team in fake.tokens.items() if team in (TEAM, BETA)]
        assert len(minted) == 2
        for token in minted:  # encrypted at rest, and never in the audit
            assert all(token not in str(tuple(r)) for r in rows.values())
            assert all(token not in json.dumps(e.detail) + e.summary for e in live.system.audit.search("", limit=500))
        assert {e.detail["team_id"] for e in live.audit("slack.installed")} == {TEAM, BETA}

        # Each workspace's /ops is answered in that workspace, with that workspace's token.
        await live.command(TEAM, "U0ALICE", "C0OPS", "echo from-acme", "trig-a")
        await live.command(BETA, "U0BOB", "C0BOPS", "status payments", "trig-b")
        await live.until(lambda: len([r for r in live.runs() if r.state == RunState.SUCCEEDED]) == 2)
        await live.system.runs.drain()
        by_channel = {r.channel: r for r in live.runs()}
        assert by_channel[f"{TEAM}:C0OPS"].channel_name == "#ops@acme" and by_channel[f"{TEAM}:C0OPS"].user == "alice"
        assert by_channel[f"{BETA}:C0BOPS"].channel_name == "#ops@beta" and by_channel[f"{BETA}:C0BOPS"].user == "bob"
        posts = fake.of("chat.postMessage") + fake.of("chat.update")
        assert {(c.params["channel"], c.params["_team"]) for c in posts} == {("C0OPS", TEAM), ("C0BOPS", BETA)}

        # Policy tells the workspaces apart: echo is allowed in #ops@acme only.
        await live.command(BETA, "U0BOB", "C0BOPS", "echo from-beta", "trig-b2")
        await live.until(lambda: bool(fake.seen_by("U0BOB")))
        assert "echo" in fake.seen_by("U0BOB")[0] and len(live.runs()) == 2

        # Beta uninstalls: its install is gone (audited); acme goes on.
        fake.revoke(BETA)
        resp = await live.event(event_callback({"type": "app_uninstalled"}, event_id="EvUninst", team=BETA))
        assert resp.status_code == 200
        await live.until(lambda: bool(live.audit("slack.uninstalled")))
        [gone] = live.audit("slack.uninstalled")
        assert gone.detail == {"team_id": BETA, "reason": "app_uninstalled"}
        with live.system.db.read() as conn:
            assert [r.team_id for r in conn.execute(select(slack_installations))] == [TEAM]
        await live.command(BETA, "U0BOB", "C0BOPS", "status payments", "trig-b3")  # refused by Bolt's authorize
        await live.command(TEAM, "U0ALICE", "C0OPS", "status payments", "trig-a2")
        await live.until(lambda: len(live.runs()) == 3)
        await live.system.runs.drain()
        await asyncio.sleep(0.3)
        assert sorted(r.channel for r in live.runs()) == [f"{BETA}:C0BOPS", f"{TEAM}:C0OPS", f"{TEAM}:C0OPS"]


async def test_the_install_flow_refuses_a_reused_code_a_forged_state_and_an_unlisted_workspace(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workspaces(tmp_path, db_url, monkeypatch) as live:
        page = await live.http.get(live.url + "/slack/install")
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        state = re.search(r"state=([^&\"]+)", html.unescape(page.text)).group(1)  # type: ignore[union-attr]
        code = live.fake.authorize(TEAM)
        forged = await live.http.get(
            live.url + "/slack/oauth_redirect", params={"code": code, "state": "forged"}, headers={"Cookie": cookie}
        )
        no_cookie = await live.http.get(live.url + "/slack/oauth_redirect", params={"code": code, "state": state})
        assert forged.status_code == 400 and no_cookie.status_code == 400  # not this browser's install
        ok = await live.http.get(
            live.url + "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
        )
        assert ok.status_code == 200
        again = await live.http.get(
            live.url + "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
        )
        assert again.status_code == 401  # the state was used up (and so was the code)
        live.fake.workspace("T0STRANGER", "Stranger", {"C0S": "ops"}, {})
        page = await live.http.get(live.url + "/slack/install")
        state = re.search(r"state=([^&\"]+)", html.unescape(page.text)).group(1)  # type: ignore[union-attr]
        stranger = await live.http.get(
            live.url + "/slack/oauth_redirect",
            params={"code": live.fake.authorize("T0STRANGER"), "state": state},
            headers={"Cookie": page.headers["set-cookie"].split(";", 1)[0]},
        )
        assert stranger.status_code == 500  # Bolt's failure page: not stored
        with live.system.db.read() as conn:
            assert [r.team_id for r in conn.execute(select(slack_installations))] == [TEAM]
        [refusal] = live.audit("slack.install_refused")
        assert refusal.detail["team_id"] == "T0STRANGER"
        assert "T0STRANGER" not in live.fake.tokens.values()  # its fresh token was given back (auth.revoke)
        assert [c.params["_team"] for c in live.fake.of("auth.revoke")] == ["T0STRANGER"]


async def test_tokens_revoked_removes_a_workspace_only_for_its_bot_token(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workspaces(tmp_path, db_url, monkeypatch) as live:
        assert (await live.install(BETA, "U0BOB")).status_code == 200
        users_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0BOB"], "bot": []}}
        assert (await live.event(event_callback(users_only, event_id="EvRev1", team=BETA))).status_code == 200
        await asyncio.sleep(0.3)
        assert not live.audit("slack.uninstalled")  # opsroom keeps no user tokens: nothing to remove
        bot = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTT0000BETA"]}}
        assert (await live.event(event_callback(bot, event_id="EvRev2", team=BETA))).status_code == 200
        await live.until(lambda: bool(live.audit("slack.uninstalled")))
        assert live.audit("slack.uninstalled")[0].detail == {"team_id": BETA, "reason": "tokens_revoked"}
        with live.system.db.read() as conn:
            assert list(conn.execute(select(slack_installations))) == []


async def test_a_rotating_token_is_refreshed_before_it_expires_and_kept_encrypted(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workspaces(tmp_path, db_url, monkeypatch) as live:
        live.fake.rotate_tokens = True
        assert (await live.install(BETA, "U0BOB")).status_code == 200
        [first] = [t for t, team in live.fake.tokens.items() if team == BETA]
        # A token from one workspace cannot reach another's channel.
        adapter = live.system.chat.get("slack")
        beta = await adapter.workspaces.get(BETA)  # type: ignore[attr-defined]
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await beta.client.chat_postMessage(channel="C0OPS", text="hello acme")
        # An hour before it expires (Slack's tokens live 12 hours), it is refreshed on use.
        with live.system.db.begin() as conn:
            conn.execute(
                update(slack_installations).values(bot_token_expires_at=datetime.now(UTC) + timedelta(hours=1))
            )
        adapter.workspaces.forget(BETA)  # type: ignore[attr-defined]
        await live.command(BETA, "U0BOB", "C0BOPS", "status payments", "trig-rot")
        await live.until(lambda: bool(live.runs()) and live.runs()[0].state == RunState.SUCCEEDED)
        await live.system.runs.drain()
        refreshes = [c for c in live.fake.of("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"]
        assert len(refreshes) == 1
        [second] = [t for t, team in live.fake.tokens.items() if team == BETA and t != first]
        bot = await adapter.installations.async_find_bot(enterprise_id=None, team_id=BETA)  # type: ignore[attr-defined]
        assert bot.bot_token == second and bot.bot_token_expires_at > time.time() + 11 * 3600
        with live.system.db.read() as conn:
            raw = str(tuple(conn.execute(select(slack_installations)).first()))
        assert second not in raw and bot.bot_refresh_token not in raw
        posts = live.fake.of("chat.postMessage")[1:]  # after the refused one to acme
        assert posts and all(c.params["channel"] == "C0BOPS" and c.params["_team"] == BETA for c in posts)


def test_the_redirect_url_is_named_exactly_when_the_public_url_is_known() -> None:
    adapter = SlackAdapter(config("http://127.0.0.1:9"), public_url="https://ops.example.com/")
    assert adapter.app.oauth_flow is not None
    assert adapter.app.oauth_flow.settings.redirect_uri == "https://ops.example.com/slack/oauth_redirect"
    assert [r.path for r in adapter.routes()][:2] == ["/slack/install", "/slack/oauth_redirect"]  # type: ignore[attr-defined]


async def test_hostile_or_cancelled_redirects_store_nothing_and_never_fail_with_a_500(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workspaces(tmp_path, db_url, monkeypatch) as live:
        page = await live.http.get(live.url + "/slack/install")
        cookie = {"Cookie": page.headers["set-cookie"].split(";", 1)[0]}
        redirect = live.url + "/slack/oauth_redirect"
        answers = [
            await live.http.get(redirect, params={"error": "access_denied"}),  # the admin clicked Cancel
            await live.http.get(redirect, params={"code": "x", "state": "s" * 10_000}, headers=cookie),
            await live.http.get(redirect, params={"state": "ünïcode\u0000"}, headers=cookie),
            await live.http.get(redirect),
            await live.http.post(redirect, content=b"{}"),
        ]
        assert [a.status_code for a in answers] == [200, 400, 400, 400, 405]
        assert "access_denied" in answers[0].text
        with live.system.db.read() as conn:
            assert list(conn.execute(select(slack_installations))) == []
        assert not live.fake.of("oauth.v2.access")
