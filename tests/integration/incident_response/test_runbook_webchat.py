"""Runbooks followed in the web chat over real HTTP: `/runbook start` posts one checklist
card; read-only diagnostics run at once (as the starter); manual checks wait for Done/Skip
clicks; the rollback step runs as the person who clicks Run and waits for carol's approval
like a typed one; `when` skips what does not apply; everything is on the incident's
timeline; a restart picks a run up where it was. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.integration.web.conftest import Served, serve, wait_for

from opsroom.chat.web import codec
from opsroom.chat.web.tables import webchat_messages
from opsroom.core import RunState
from opsroom.incidents import store as incident_store
from opsroom.runbooks import store as rb_store
from opsroom.runs import store as run_store


def card(web: Served, channel: str = "ops") -> tuple[int, Any]:
    """The newest checklist card in a channel: (message id, Message)."""
    with web.system.db.read() as conn:
        rows = conn.execute(
            select(webchat_messages)
            .where(webchat_messages.c.channel == channel, webchat_messages.c.is_bot.is_(True))
            .order_by(webchat_messages.c.id)
        ).all()
    found = [(r.id, codec.decode(r.body)) for r in rows if r.body and "runbook run #" in r.text]
    assert found, [r.text for r in rows]
    return found[-1]


def run_of(web: Served, run_id: int = 1) -> rb_store.RunbookRun:
    with web.system.db.read() as conn:
        found = rb_store.get(conn, run_id)
    assert found is not None
    return found


def states(web: Served, run_id: int = 1) -> dict[str, str]:
    return {s.step: s.state for s in run_of(web, run_id).steps}


async def click(web: Served, browser: Any, label: str, channel: str = "ops") -> None:
    """Click a button of the card once the card shows it (the card is edited just after
    the step's state is stored)."""

    def shown() -> Any:
        message_id, message = card(web, channel)
        found = [b for b in message.buttons() if b.label == label]
        return (message_id, found[0]) if found else None

    message_id, button = await wait_for(shown)
    response = await browser.click(message_id, button.action_id)
    assert response.status_code in (200, 202), response.text
    await web.adapter.drain()


async def test_diagnostics_run_at_once_then_checks_and_an_approved_rollback(web: Served) -> None:
    alice = await web.browser("alice")
    text = "/runbook start payments-error-rate env=production version=v4.12.3"
    assert (await alice.post("ops", text)).status_code == 202
    await web.adapter.drain()
    # The three read-only diagnostics run on their own, one after the other, as alice.
    await wait_for(lambda: states(web)["step-4"] == "waiting", timeout=30)
    assert [states(web)[s] for s in ("status", "error-rate", "logs")] == ["ok", "ok", "ok"]
    with web.system.db.read() as conn:
        runs = run_store.list_runs(conn, limit=10)
    assert sorted(r.command for r in runs) == ["logs", "query", "status"] and {r.user for r in runs} == {"alice"}
    assert all(r.thread for r in runs)  # in the card's thread
    # The card is edited just after the state is stored.
    shown = await wait_for(lambda: (lambda m: m if m.buttons() else None)(card(web)[1]))
    assert [b.label for b in shown.buttons()] == ["Done", "Skip"] and "3/7 steps" in shown.text
    await click(web, alice, "Done")
    await click(web, alice, "Skip")
    assert states(web)["step-4"] == "ok" and states(web)["step-5"] == "skipped"
    # The rollback waits for a click; bob (a developer) may not roll back production.
    bob = await web.browser("bob")
    await click(web, bob, "Run")
    assert states(web)["rollback"] == "waiting"
    await click(web, alice, "Run")
    rollback = await wait_for(lambda: run_of(web).step("rollback").command_run)  # type: ignore[union-attr]
    with web.system.db.read() as conn:
        held = run_store.get_run(conn, rollback)
    assert held is not None and held.state == RunState.AWAITING_APPROVAL and held.user == "alice"
    carol = await web.browser("carol")
    assert (await carol.post("ops", f"/approve {rollback}")).status_code == 202
    await web.adapter.drain()
    await wait_for(lambda: states(web)["rollback"] == "ok", timeout=30)
    await wait_for(lambda: states(web)["step-7"] == "waiting")
    await click(web, carol, "Done")
    await wait_for(lambda: run_of(web).state == "succeeded")
    final = await wait_for(lambda: (lambda m: m if "succeeded" in m.text else None)(card(web)[1]))
    assert "succeeded" in final.text and "7/7" in final.text and not final.buttons()
    with web.system.db.read() as conn:
        trail = [e.summary for e in web.system.audit.search(web.system.audit.parse("command:runbook"), limit=100)]
    assert any("step rollback: running" in s for s in trail) and any("#1 succeeded" in s for s in trail)


async def test_when_skips_the_rollback_without_a_version_and_bad_input_starts_nothing(web: Served) -> None:
    alice = await web.browser("alice")
    assert (await alice.post("ops", "/runbook start payments-error-rate env=prod")).status_code == 202
    assert (await alice.post("ops", "/runbook start payments-error-rate colour=red")).status_code == 202
    assert (await alice.post("ops", "/runbook start no-such-book")).status_code == 202
    await web.adapter.drain()
    with web.system.db.read() as conn:
        assert rb_store.active_ids(conn) == []
    assert (await alice.post("ops", "/runbook start payments-error-rate env=staging")).status_code == 202
    await web.adapter.drain()
    await wait_for(lambda: states(web)["step-4"] == "waiting", timeout=30)
    await click(web, alice, "Done")
    await click(web, alice, "Done")
    await wait_for(lambda: states(web)["step-7"] == "waiting")
    assert states(web)["rollback"] == "skipped"
    await wait_for(lambda: "when version != '': false" in card(web)[1].as_text())


async def test_in_a_war_room_the_steps_land_on_the_incident_timeline(web: Served) -> None:
    alice = await web.browser("alice")
    assert (await alice.post("ops", '/incident declare "Payments errors" sev2 service=payments')).status_code == 202
    await web.adapter.drain()
    with web.system.db.read() as conn:
        incident = incident_store.find(conn, "1")
    assert incident is not None
    room = incident.channel
    assert (await alice.post(room, "/runbook start payments-error-rate")).status_code == 202
    await web.adapter.drain()
    await wait_for(lambda: states(web)["step-4"] == "waiting", timeout=30)
    assert run_of(web).incident_id == incident.id
    assert (await alice.post(room, "/incident resolve")).status_code == 202
    await web.adapter.drain()
    with web.system.db.read() as conn:
        draft = incident_store.find(conn, "1").postmortem  # type: ignore[union-attr]
    assert "runbook payments-error-rate step status: ok" in draft
    assert "`query payments error_rate` — alice" in draft


async def test_a_restart_picks_the_run_up_where_it_was(tmp_path: Any, db_url: str, monkeypatch: Any) -> None:
    async with serve(tmp_path, db_url, monkeypatch) as first:
        alice = await first.browser("alice")
        assert (await alice.post("ops", "/runbook start payments-error-rate version=v4.12.3")).status_code == 202
        await first.adapter.drain()
        await wait_for(lambda: states(first)["step-4"] == "waiting", timeout=30)
        await click(first, alice, "Done")
    async with serve(tmp_path, db_url, monkeypatch) as second:
        assert states(second)["step-4"] == "ok" and states(second)["step-5"] == "waiting"
        carol = await second.browser("carol")
        await click(second, carol, "Skip")
        assert states(second)["step-5"] == "skipped" and states(second)["rollback"] == "waiting"
        assert run_of(second).state == "active"
