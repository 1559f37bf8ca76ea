"""Three `opsroom run` replicas on one PostgreSQL schema with a Mattermost server and Slack
(the fakes). Slack delivers one app mention three times (its retries reach whichever replica
the load balancer picks): answered once. Alertmanager in HA posts one alert to every replica:
one notification. With Mattermost:
exactly one replica holds the Mattermost event socket, each message and slash command is
answered once whichever replica gets it, an approval that lapses is announced once (the
leader sweeps, and a hold ends once in the database), and when the socket's owner is killed another replica
opens it within 10 s and answers what is posted next. The audit chain written by the three
verifies."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, select
from tests.fakes import slack as slack_fake
from tests.fakes.mattermost import BOT_ID, BOT_TOKEN, COMMAND_TOKEN, FakeMattermost, slash_command
from tests.support.cluster import FakeInThread, Replica, wait_for
from tests.support.system import demo_data_elsewhere

from opsroom.alerts.demo import demo_payload
from opsroom.audit.verify import verify_db
from opsroom.chat.web.tables import webchat_messages as t
from opsroom.store import Database

ALICE = "aliceid0000000000000000000"
CAROL = "carolid0000000000000000000"
OPS = "chanops000000000000000000a"


@pytest.fixture
def mattermost() -> Iterator[tuple[FakeMattermost, FakeInThread]]:
    fake = FakeMattermost(
        users={
            ALICE: {"id": ALICE, "username": "alice", "email": "alice@example.com"},
            CAROL: {"id": CAROL, "username": "carol", "email": "carol@example.com"},
        }
    )
    served = FakeInThread(fake.app())
    fake.base_url = served.url
    yield fake, served
    served.close()


@pytest.fixture
def slack() -> Iterator[tuple[slack_fake.FakeSlack, FakeInThread]]:
    fake = slack_fake.FakeSlack(
        users={"U0ALICE": {"id": "U0ALICE", "name": "alice", "profile": {"email": "alice@example.com"}}},
        channels={"C0OPS": "ops"},
    )
    served = FakeInThread(fake.app())
    fake.base_url = served.url
    yield fake, served
    served.close()


def _slack_event(replica: Replica, body: str, retry: int) -> None:
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(slack_fake.SIGNING_SECRET).generate_signature(timestamp=ts, body=body),
    }
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    resp = httpx.post(replica.base + "/slack/events", content=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text


def _slack_answers(fake: slack_fake.FakeSlack, words: str) -> int:
    return sum(
        words in str(c.params.get("text", "")) + json.dumps(c.params.get("blocks", ""))
        for c in list(fake.calls)
        if c.method in ("chat.postMessage", "chat.postEphemeral")
    )


def _config(tmp_path: Path, db_url: str, mm_url: str, slack_url: str) -> Path:
    data = demo_data_elsewhere()
    data["database"] = {"url": db_url}
    data["cluster"] = {"enabled": True, "heartbeat_s": 1, "dead_after_s": 3}
    data["users"]["alice"]["identities"]["mattermost"] = ALICE
    data["users"]["carol"]["identities"]["mattermost"] = CAROL
    data["users"]["alice"]["identities"]["slack"] = "U0ALICE"
    data.setdefault("chat", {})["slack"] = {
        "mode": "http",
        "bot_token": slack_fake.BOT_TOKEN,
        "signing_secret": slack_fake.SIGNING_SECRET,
        "base_url": slack_url + "/api/",
    }
    data.setdefault("chat", {})["mattermost"] = {
        "url": mm_url,
        "bot_token": BOT_TOKEN,
        "command_tokens": [COMMAND_TOKEN],
        "pace_seconds": 0,
        "reconnect_min_seconds": 0.2,
        "channels": [OPS],  # read (and caught up on, by a replica taking the socket over)
        "actions_url": "http://127.0.0.1:9/mattermost/actions",  # the load balancer, in production
    }
    data.setdefault("guardrails", {})["sweep_interval"] = 0.5
    for rule in data["policy"]["rules"]:
        if rule["id"] == "production-needs-a-lead":
            rule["require_approval"]["expires"] = "3s"
    path = tmp_path / "opsroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _bot_posts(fake: FakeMattermost, words: str) -> list[dict[str, Any]]:
    return [p for p in list(fake.posts.values()) if p["user_id"] == BOT_ID and words in _text(p)]


def _text(post: dict[str, Any]) -> str:
    parts = [post.get("message", "")]
    for attachment in post.get("props", {}).get("attachments") or []:
        parts += [str(attachment.get(k, "")) for k in ("pretext", "title", "text", "fallback")]
        parts += [str(f.get("value", "")) for f in attachment.get("fields") or []]
    return "\n".join(parts)


def _slash(replica: Replica, fake: FakeMattermost, text: str) -> None:
    form = slash_command(
        "/ops", text, user_id=ALICE, channel_id=OPS, channel_name="ops", response_url=fake.response_url(ALICE, OPS)
    )
    resp = httpx.post(
        replica.base + "/mattermost/command",
        content=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def _alert_posts(db_url: str) -> int:
    """Top-level bot posts about the demo alert in the alert channel (the web chat's #war-room)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            texts = conn.execute(select(t.c.text).where(t.c.is_bot.is_(True), t.c.thread.is_(None))).scalars()
            return sum("error rate" in (x or "").lower() for x in texts)
    finally:
        engine.dispose()


def _answers(fake: FakeMattermost, words: str) -> int:
    """What people in the channel saw: bot posts and command responses containing ``words``."""
    return len(_bot_posts(fake, words)) + sum(words in str(r.get("text", "")) for r in fake.responses)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_three_replicas_share_one_mattermost_socket_answer_once_and_fail_over(
    tmp_path: Path,
    db_url: str,
    mattermost: tuple[FakeMattermost, FakeInThread],
    slack: tuple[slack_fake.FakeSlack, FakeInThread],
    replicas: list[Replica],
) -> None:
    fake, served = mattermost
    slack_api, slack_served = slack
    config = _config(tmp_path, db_url, served.url, slack_served.url)
    replicas.extend(Replica.start_all(config, tmp_path, "abc", speed="0.01"))
    wait_for(lambda: len(fake._sockets) == 1, 15)
    time.sleep(1.5)  # another lease round: nobody else opens a socket
    assert len(fake._sockets) == 1 and fake.connections == 1, "one replica owns the Mattermost socket"
    [leader] = [r for r in replicas if r.leads("chat-mattermost")]

    # Slack sends an app mention, then retries it: each delivery reaches another replica
    mention = slack_fake.app_mention("<@UBOT0001> whoami", user="U0ALICE", channel="C0OPS")
    body = json.dumps(slack_fake.event_callback(mention, event_id="Ev0CLUSTER01"))
    for retry, replica in enumerate(replicas):
        _slack_event(replica, body, retry)
    wait_for(lambda: _slack_answers(slack_api, "Roles: sre.") >= 1, 15)

    # a message in the channel: read by the socket's owner only, answered once
    served.call(fake.user_posts("@opsroom whoami", user_id=ALICE, mentions=[BOT_ID]))
    wait_for(lambda: _answers(fake, "Roles: sre.") >= 1, 15)
    # a slash command through each replica (the load balancer's choice): each answered once
    for replica in replicas:
        _slash(replica, fake, "whoami")
    wait_for(lambda: _answers(fake, "Roles: sre.") >= 4, 20)
    time.sleep(1.0)
    assert _answers(fake, "Roles: sre.") == 4, "one answer per message and per command, whichever replica got it"
    assert _slack_answers(slack_api, "Roles: sre.") == 1, "one answer to a Slack event delivered three times"

    # Alertmanager in HA sends each notification from every instance: one alert to each replica
    payload = demo_payload(dt.datetime.now(dt.UTC))
    for replica in replicas:
        hook = httpx.post(
            replica.base + "/hooks/alertmanager/demo",
            json=payload,
            headers={"Authorization": "Bearer demo-alert-token"},
            timeout=10,
        )
        assert hook.status_code in (200, 202), hook.text
    wait_for(lambda: _alert_posts(db_url) >= 1, 15)
    time.sleep(1.5)  # a tick of every replica's notifier
    assert _alert_posts(db_url) == 1, "one alert notification from three replicas and three deliveries"

    # a production deploy waits for carol's approval, which lapses after 3 s: said once, not thrice
    served.call(fake.user_posts("@opsroom deploy api-gateway production", user_id=ALICE, mentions=[BOT_ID]))
    wait_for(lambda: _answers(fake, "expired") >= 1, 20)
    time.sleep(1.0)  # two sweeps of every replica
    assert _answers(fake, "expired") == 1, "the approval's expiry announced once across three replicas"

    # the socket's owner dies: another replica takes the socket within 10 s and reads what was
    # posted while nobody listened (the server refuses sockets for a moment here, so a post
    # certainly falls in the gap)
    before = fake.connections
    fake.sockets_down = True
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(10)
    killed = time.monotonic()
    served.call(fake.user_posts("@opsroom whoami", user_id=ALICE, mentions=[BOT_ID], channel_id=OPS))
    survivors = [r for r in replicas if r is not leader]
    wait_for(lambda: sum(r.leads("chat-mattermost") for r in survivors) == 1, 10)
    moved = time.monotonic() - killed
    fake.sockets_down = False
    wait_for(lambda: fake.connections > before and len(fake._sockets) == 1, 15)
    print(f"mattermost lease moved {moved:.1f} s after SIGKILL of the socket's owner")
    assert moved < 10
    wait_for(lambda: _answers(fake, "Roles: sre.") >= 5, 15)  # the post made in the gap
    served.call(fake.user_posts("@opsroom whoami", user_id=ALICE, mentions=[BOT_ID]))
    wait_for(lambda: _answers(fake, "Roles: sre.") >= 6, 15)
    time.sleep(1.0)
    assert _answers(fake, "Roles: sre.") == 6

    db = Database.open(db_url, migrate=False)
    try:
        report = verify_db(db)
        assert report.ok, report
    finally:
        db.dispose()
