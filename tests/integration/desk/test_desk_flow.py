"""The help desk end to end through a chat adapter, as the people asking see it: answers
from the demo KB, Solved and Not solved (a ticket with the question in it), the no-match
path, plain words in #help and in a DM, and the refusals (someone else's question, a second
click, a forged button). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.guardrails import buttons, click
from tests.support.system import make_system

from opsroom.audit.log import AuditLog
from opsroom.core import MessageEvent
from opsroom.desk.tables import desk_questions
from opsroom.integrations.tickets.tables import tickets


@pytest.fixture
async def demo(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    system, chat = make_system(tmp_path, db_url, monkeypatch=monkeypatch)
    await system.start()
    yield system, chat
    await system.stop()
    system.db.dispose()


def questions(system: Any) -> list[dict[str, Any]]:
    with system.db.read() as conn:
        return [dict(r) for r in conn.execute(select(desk_questions).order_by(desk_questions.c.id)).mappings()]


def audit_actions(system: Any, prefix: str) -> list[str]:
    return [e.action for e in AuditLog(system.db).search("", limit=200) if e.action.startswith(prefix)]


def desk(system: Any) -> Any:
    return system.engine.parts.extras["desk"]


def ticket_rows(system: Any) -> list[dict[str, Any]]:
    with system.db.read() as conn:
        return [dict(r) for r in conn.execute(select(tickets)).mappings()]


async def test_a_question_is_answered_from_the_kb_and_solved(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "/ask how do I connect to the VPN", channel="#help")
    answer = chat.posts[-1]
    assert "Connect to the VPN" in answer.text
    assert "vpn.md" in answer.text  # where the answer comes from
    await click(chat, "bob", buttons(answer.last)["Solved ✓"].action_id, channel="#help")
    assert "Glad that helped" in answer.text and not answer.last.buttons()  # settled in place
    assert [q["outcome"] for q in questions(system)] == ["solved"]
    assert audit_actions(system, "desk.") == ["desk.solved", "desk.suggested"]  # newest first
    assert desk(system).stats().deflection == 1.0


async def test_not_solved_opens_a_ticket_with_the_question_and_suggestions(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "/ask my password expired and I can't log in", channel="#help")
    answer = chat.posts[-1]
    await click(chat, "bob", buttons(answer.last)["Not solved — open a ticket"].action_id, channel="#help")
    [ticket] = ticket_rows(system)
    assert ticket["opened_by"] == "bob"
    assert "my password expired and I can't log in" in ticket["body"]
    assert "Reset your password" in ticket["body"]  # what was suggested and did not help
    assert "#help" in ticket["body"] and "#help" in ticket["thread_link"]
    assert "Ticket" in answer.text and not answer.last.buttons()
    q = questions(system)[0]
    assert q["outcome"] == "escalated" and q["ticket"]
    assert desk(system).stats().deflection == 0.0


async def test_no_article_fits_offers_a_ticket_instead_of_guessing(demo: Any) -> None:
    system, chat = demo
    await chat.say("alice", "/ask the espresso machine on floor 3 leaks", channel="#help")
    offer = chat.posts[-1]
    assert "No article fits" in offer.text
    assert set(buttons(offer.last)) == {"No, thanks", "Open a ticket"}
    await click(chat, "alice", buttons(offer.last)["No, thanks"].action_id, channel="#help")
    assert questions(system)[0]["outcome"] == "dismissed"
    assert ticket_rows(system) == []
    assert desk(system).stats().deflection is None  # no deflection claimed


async def test_plain_words_in_help_are_questions_but_not_elsewhere(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "how do I reset my password?", channel="#help")
    assert "Reset your password" in chat.posts[-1].text
    before = len(chat.posts)
    await chat.say("bob", "how do I reset my password?", channel="#ops")  # conversation
    assert len(chat.posts) == before
    await chat.say("bob", "@opsroom how do I connect to the VPN?", channel="#help")  # a mention: a question
    assert "Connect to the VPN" in chat.posts[-1].text
    await chat.say("bob", "/status payments", channel="#help")  # commands still work in #help
    await chat.say("bob", "@opsroom status payments", channel="#help")  # … mentioned too
    await chat.say("bob", "/how do I", channel="#help")  # command syntax stays a command (a typo)
    assert "unknown command" in chat.posts[-1].text or "try help" in chat.posts[-1].text
    assert len(questions(system)) == 2


async def test_a_dm_question_and_a_dm_command_near_miss(demo: Any) -> None:
    system, chat = demo
    dm = chat.place("bob-dm")
    dm = type(dm)(dm.platform, dm.channel, None, is_direct=True, channel_name="@bob")
    await chat.handler(MessageEvent(dm, "bob", "what's the wifi password? I'm on env=guest"))
    assert questions(system)[0]["question"] == "what's the wifi password? I'm on env=guest"  # not split
    await chat.handler(MessageEvent(dm, "bob", "stauts payments"))  # a typo of a command
    assert "did you mean" in chat.posts[-1].text
    assert len(questions(system)) == 1


async def test_only_the_asker_settles_and_only_once(demo: Any) -> None:
    system, chat = demo
    await chat.say("bob", "/ask how do I connect to the VPN", channel="#help")
    answer = chat.posts[-1]
    solved = buttons(answer.last)["Solved ✓"].action_id
    await click(chat, "alice", solved, channel="#help")
    assert "Only bob can say" in chat.posts[-1].text
    assert questions(system)[0]["outcome"] == "suggested"
    await click(chat, "bob", solved, channel="#help")  # alice's refused click did not use it up
    assert questions(system)[0]["outcome"] == "solved"
    await click(chat, "bob", buttons(answer.versions[0])["Not solved — open a ticket"].action_id, channel="#help")
    assert "already solved" in chat.posts[-1].text
    assert ticket_rows(system) == []
    await click(chat, "bob", "forged.button", channel="#help")
    assert "not one of ours" in chat.posts[-1].text


async def test_secrets_typed_into_a_question_are_not_kept(demo: Any) -> None:
    system, chat = demo
    key = "AKIA" + "QWERTYUIOPASDFGH"
    await chat.say("bob", f"/ask the vpn rejects my key {key}", channel="#help")
    [ticket_button] = [b for label, b in buttons(chat.posts[-1].last).items() if "ticket" in label]
    await click(chat, "bob", ticket_button.action_id, channel="#help")
    assert key not in chat.transcript()
    assert key not in questions(system)[0]["question"]
    assert key not in ticket_rows(system)[0]["body"]
    assert all(key not in e.summary for e in AuditLog(system.db).search("", limit=200))


async def test_the_policy_decides_who_may_ask(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.system import demo_data

    data = demo_data()
    data["policy"]["rules"] = [r for r in data["policy"]["rules"] if r["id"] != "everyone-asks"]
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/ask how do I connect to the VPN", channel="#help")
        assert "⛔" in chat.posts[-1].text
        assert questions(system) == []
    finally:
        await system.stop()
        system.db.dispose()


async def test_an_edited_article_is_answered_at_once_and_a_broken_edit_keeps_the_last_good_kb(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tests.support.system import demo_data

    from opsroom.config.loader import DEMO_CONFIG

    kb = tmp_path / "kb"
    shutil.copytree(DEMO_CONFIG.parent / "kb", kb)
    data = demo_data()
    data["kb"]["paths"] = [str(kb)]
    system, chat = make_system(tmp_path, db_url, data, monkeypatch=monkeypatch)
    await system.start()
    try:
        await chat.say("bob", "/ask where is the coffee grinder", channel="#help")
        assert "No article fits" in chat.posts[-1].text
        (kb / "coffee.md").write_text(
            "---\nid: coffee\ntitle: Coffee grinder\ntags: [coffee]\n---\n"
            "The coffee grinder is in the kitchen on floor 2.\n"
        )
        await chat.say("bob", "/ask where is the coffee grinder", channel="#help")
        assert "kitchen on floor 2" in chat.posts[-1].text
        (kb / "broken.md").write_text("---\nid: Not A Valid Id\n---\nno title\n")
        await chat.say("bob", "/ask where is the coffee grinder", channel="#help")
        assert "kitchen on floor 2" in chat.posts[-1].text
    finally:
        await system.stop()
        system.db.dispose()
