"""Incidents through the web chat over real HTTP: declare from #ops, a war-room channel is
opened with the on-call commander tagged, status, roles, notes and updates land on one
timeline (with the commands run in the war room), resolve drafts the postmortem, close
archives the room. Policy and visibility apply. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from tests.integration.web.conftest import Served, demo_data, serve, wait_for

from opsroom.chat.web import codec
from opsroom.chat.web.tables import webchat_channels, webchat_messages
from opsroom.incidents import store as incident_store
from opsroom.integrations.oncall import OnCall


def texts(web: Served, channel: str) -> list[str]:
    with web.system.db.read() as conn:
        rows = conn.execute(
            select(webchat_messages).where(webchat_messages.c.channel == channel).order_by(webchat_messages.c.id)
        ).all()
    return [codec.decode(r.body).as_text() if r.body is not None else r.text for r in rows]


def bodies(web: Served, channel: str) -> list[Any]:
    with web.system.db.read() as conn:
        rows = conn.execute(
            select(webchat_messages)
            .where(webchat_messages.c.channel == channel, webchat_messages.c.is_bot.is_(True))
            .order_by(webchat_messages.c.id)
        ).all()
    return [codec.decode(r.body) for r in rows]


def on_call_now(web: Served) -> str:
    who = OnCall(web.system.config.oncall).who("sre", dt.datetime.now(dt.UTC))
    assert who
    return who


async def declare(web: Served, user: str = "alice") -> tuple[Any, Any]:
    b = await web.browser(user)
    response = await b.post("ops", '/incident declare "Payments failing" sev2 service=payments')
    assert response.status_code == 202, response.text
    await web.adapter.drain()
    with web.system.db.read() as conn:
        incident = incident_store.find(conn, "1")
    assert incident is not None
    return b, incident


async def test_declare_opens_a_war_room_with_the_on_call_commander_tagged(web: Served) -> None:
    b, incident = await declare(web)
    lead = on_call_now(web)
    assert incident.state.roles == {"commander": lead}
    assert incident.state.status == "investigating" and incident.state.severity == "sev2"
    room = incident.channel
    assert room.startswith("inc-1-payments-failing") and incident.thread is None
    with web.system.db.read() as conn:
        assert conn.execute(select(webchat_channels.c.name)).scalars().all() == ["#" + room]
    welcome = bodies(web, room)[0]
    assert [p.name for p in welcome.mentions] == [lead]
    assert "leads as commander" in welcome.as_text()
    assert any("INC-1" in t and "declared" in t for t in texts(web, "ops"))
    assert any("INC-1" in t and "Payments failing" in t for t in texts(web, "incidents"))
    # The new channel is open to the team: they can talk there.
    assert (await b.post(room, "looking at the dashboards")).status_code == 202


async def test_war_room_commands_status_roles_notes_and_timeline(web: Served) -> None:
    b, incident = await declare(web)
    room = incident.channel
    carol = await web.browser("carol")
    for who, text in (
        (b, "/incident status identified"),
        (carol, "/incident role comms me"),
        (b, "/incident note error rate follows the 14:02 deploy"),
        (b, "/status payments production"),
        (carol, "/incident update to=stakeholders rolling back payments"),
        (b, "/incident severity sev1"),
    ):
        assert (await who.post(room, text)).status_code == 202
        await web.adapter.drain()
    await wait_for(lambda: any("✅" in t or "succeeded" in t for t in texts(web, room)))
    with web.system.db.read() as conn:
        now = incident_store.find(conn, "1")
    assert now is not None
    assert now.state.status == "identified" and now.state.severity == "sev1"
    assert now.state.roles["comms"] == "carol" and "acknowledged" in now.state.milestones
    assert any("rolling back payments" in t for t in texts(web, "incidents"))
    assert (await b.post(room, "/incident timeline")).status_code == 202
    await web.adapter.drain()
    shown = texts(web, room)[-1]
    for expected in (
        "declared sev2",
        "investigating → identified",
        "comms: carol",
        "error rate follows the 14:02 deploy",
        "update (stakeholders)",
        "status payments production",
        "sev2 → sev1",
    ):
        assert expected in shown, (expected, shown)


async def test_refused_and_wrong_changes_change_nothing(web: Served) -> None:
    b, incident = await declare(web)
    room = incident.channel
    bob = await web.browser("bob")  # a developer: may work incidents, may not close them
    assert (await bob.post(room, "/incident close")).status_code == 202
    assert (await b.post(room, "/incident status investigating")).status_code == 202
    assert (await b.post("ops", "/incident note not in a war room")).status_code == 202
    assert (await b.post(room, "/incident role commander @mallory")).status_code == 202
    await web.adapter.drain()
    shown = "\n".join(texts(web, room) + texts(web, "ops"))
    assert "⛔" in shown and "already investigating" in shown
    assert "not an incident's war room" in shown and "`mallory` is not an opsroom user" in shown
    with web.system.db.read() as conn:
        same = incident_store.find(conn, "1")
    assert same is not None and same.state == incident.state


async def test_resolve_drafts_the_postmortem_and_close_archives_the_room(web: Served) -> None:
    b, incident = await declare(web)
    room = incident.channel
    for text in (
        "/incident status identified",
        "/status payments production",
        "/incident note rolled back",
        "/incident followup owner=@bob alert on payment provider latency",
        "/incident resolve",
    ):
        assert (await b.post(room, text)).status_code == 202
        await web.adapter.drain()
        await wait_for(lambda: not web.system.engine.runs.live)
    with web.system.db.read() as conn:
        resolved = incident_store.find(conn, "1")
    assert resolved is not None and resolved.state.status == "resolved"
    draft = resolved.postmortem
    assert draft.startswith("---\nid: postmortem-inc-") and "# Postmortem: INC-1 Payments failing" in draft
    assert "| resolved |" in draft and "`status payments production` — alice" in draft
    assert "rolled back" in draft and "/console/audit?before=" in draft
    assert "- [ ] alert on payment provider latency — bob, due " in draft and "ticket `#1 (built-in tracker)`" in draft
    assert any("follow-up #1 for bob" in t and "ticket #1 (built-in tracker)" in t for t in texts(web, room))
    metrics = (await b.http.get("/metrics")).text
    assert (
        'opsroom_incident_milestone_seconds_count{milestone="resolved",service="payments",severity="sev2"}' in metrics
    )
    assert (await b.post(room, "/incident stats since=30d")).status_code == 202
    await web.adapter.drain()
    shown = texts(web, room)[-1]
    assert "incidents: 1" in shown and "sev2: 1" in shown and "time to resolved: median" in shown
    assert (await b.post(room, "/incident close")).status_code == 202
    await web.adapter.drain()
    with web.system.db.read() as conn:
        archived = conn.execute(select(webchat_channels.c.archived_at)).scalar_one()
    assert archived is not None
    assert any("INC-1" in t and "closed" in t for t in texts(web, "incidents"))
    assert (await b.post(room, "/incident status investigating")).status_code == 202
    await web.adapter.drain()
    assert "declare a new one" in texts(web, room)[-1]


async def test_console_page_shows_the_timeline_to_those_who_may_see_it(
    tmp_path: Any, db_url: str, monkeypatch: Any
) -> None:
    data = demo_data()
    data["users"]["dave"] = {"display_name": "Dave (visitor)", "roles": []}
    async with serve(tmp_path, db_url, monkeypatch, data) as web:
        b, incident = await declare(web)
        assert (await b.post(incident.channel, "/incident note <script>alert(1)</script>")).status_code == 202
        assert (await b.post(incident.channel, "/incident resolve")).status_code == 202
        await web.adapter.drain()
        listing = await b.http.get("/console/incidents")
        assert listing.status_code == 200 and "INC-1" in listing.text and "Payments failing" in listing.text
        page = await b.http.get("/console/incidents/1")
        assert page.status_code == 200
        assert "declared sev2: Payments failing" in page.text and 'id="postmortem"' in page.text
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
        assert "/console/audit?before=" in page.text
        assert (await b.http.get("/console/incidents/99")).status_code == 404
        dave = await web.browser("dave")
        assert (await dave.http.get("/console/incidents/1")).status_code == 403
        anon = await web.browser()
        assert (await anon.http.get("/console/incidents/1")).status_code == 303


async def test_declare_through_the_json_api_with_a_token(web: Served) -> None:
    import httpx

    from opsroom.web.sessions import create_token

    token, _ = create_token(web.system.db, "bob", "pager")
    async with httpx.AsyncClient(base_url=web.base, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.post(
            "/api/channels/ops/messages", json={"text": '/incident declare "Checkout 502s" sev3 service=checkout'}
        )
        assert response.status_code == 201, response.text
        await web.adapter.drain()
        refused = await client.post("/api/channels/ops/messages", json={"text": "/incident close incident=1"})
        assert refused.status_code == 201
        await web.adapter.drain()
    with web.system.db.read() as conn:
        incident = incident_store.find(conn, "1")
    assert incident is not None and incident.declared_by == "bob" and incident.state.status == "investigating"
    assert any("⛔" in t for t in texts(web, "ops"))
