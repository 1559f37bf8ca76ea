"""The built-in ticket store, /ticket commands, hooks and change review on the real database
(SQLite and PostgreSQL through the ``db`` fixture)."""

from __future__ import annotations

import datetime as dt

import pytest

from opsroom.core import CommandSpec, ConfigError, HookContext, Invocation, Place, Principal
from opsroom.integrations.tickets.base import ChangeRefused, NewTicket, TicketError, TicketNotFound
from opsroom.integrations.tickets.builtin import BuiltinTickets
from opsroom.integrations.tickets.change import check_change, review
from opsroom.integrations.tickets.commands import TICKET_SPEC, ticket_handlers
from opsroom.integrations.tickets.desk import TicketDesk
from opsroom.integrations.tickets.hooks import CommentTicket, OpenTicket
from opsroom.store import Database

UTC = dt.UTC


@pytest.fixture
def store(db: Database) -> BuiltinTickets:
    return BuiltinTickets(db, public_url="https://ops.example.com")


async def test_open_show_comment_close(store: BuiltinTickets) -> None:
    ticket = await store.create(
        NewTicket(title="  disk   full on web1 ", priority="p2", author="alice", thread_link="web:#ops thread 9")
    )
    assert ticket.title == "disk full on web1" and ticket.priority == "p2" and ticket.status == "open"
    assert ticket.url == f"https://ops.example.com/console/tickets/{ticket.id}"
    await store.comment(ticket.id, "freed 20 GB", author="bob")
    shown = await store.get(f"#{ticket.id}")
    assert [(c.author, c.body) for c in shown.comments] == [("bob", "freed 20 GB")]
    closed = await store.close(ticket.id, resolution="rotated logs", author="bob")
    assert closed.closed and closed.status == "closed"
    with pytest.raises(TicketError, match="already closed"):
        await store.close(ticket.id)
    assert await store.list() == []


async def test_bad_input_changes_nothing(store: BuiltinTickets) -> None:
    with pytest.raises(TicketNotFound, match="there is no ticket #999"):
        await store.get("999")
    with pytest.raises(TicketNotFound):
        await store.comment("17; DROP TABLE tickets", "x")
    with pytest.raises(TicketError, match="priority must be one of"):
        await store.create(NewTicket(title="x", priority="urgent"))
    with pytest.raises(TicketError, match="needs a title"):
        await store.create(NewTicket(title="   "))
    assert await store.list(status=None) == []


def _invocation(raw: str, **args: object) -> Invocation:
    return Invocation(TICKET_SPEC, args, raw, Principal("alice"), Place("web", "ops", "t1", channel_name="#ops"))


async def test_ticket_command_round_trip(store: BuiltinTickets) -> None:
    handler = ticket_handlers(TicketDesk({"builtin": store}))["ticket"]
    opened = await handler(None, _invocation('ticket open "db slow"', action="open", target="db slow", priority="p2"))
    assert opened.tone == "success" and "opened (p2): db slow" in opened.as_text()
    number = opened.text.split()[1].lstrip("#")
    said = await handler(None, _invocation("", action="comment", target=number, text="added an index"))
    assert said.text == f"Commented on ticket #{number}."
    shown = await handler(None, _invocation("", action=number))
    assert "alice: added an index" in shown.as_text() and "the thread in #ops" in shown.as_text()
    listed = await handler(None, _invocation("", action=None))
    assert "db slow" in listed.as_text()
    closed = await handler(None, _invocation("", action="close", target=number))
    assert closed.text == f"Ticket #{number} closed (closed)."
    missing = await handler(None, _invocation("", action="comment", target="4242", text="hello"))
    assert missing.tone == "warning" and "there is no ticket #4242" in missing.text
    empty = await handler(None, _invocation("", action="comment", target=number))
    assert "what should the comment say" in empty.text


def _hook_ctx(**extra: object) -> HookContext:
    values: dict[str, object] = dict(
        run_id=42,
        command="disk",
        args={"host": "web1", "user": "{user}"},
        user="alice",
        platform="slack",
        channel="#ops",
        outcome="failed",
        exit_code=1,
        output_tail="/dev/sda1 100%",
        thread_link="https://chat.example.com/ops/p123",
        audit_ids=(7, 8, 9),
        raw_text="/disk web1",
    )
    values.update(extra)
    return HookContext(**values)  # type: ignore[arg-type]


async def test_ticket_open_hook_fills_the_template(store: BuiltinTickets) -> None:
    hook = OpenTicket(TicketDesk({"builtin": store}), {"priority": "p2", "title": "disk check failed on {host}"})
    result = await hook(_hook_ctx())
    assert result.startswith("ticket #") and "opened (built-in tracker)" in result
    ticket = (await store.list())[0]
    assert ticket.title == "disk check failed on web1" and ticket.priority == "p2"
    assert ticket.author == "alice" and ticket.thread_link == "https://chat.example.com/ops/p123"
    for fact in (
        "alice ran `/disk web1` in #ops (slack)",
        "Outcome: failed (exit code 1)",
        "Arguments: host=web1 user={user}",
        "Run: #42 · audit records: 7, 8, 9",
        "Thread: https://chat.example.com/ops/p123",
        "/dev/sda1 100%",
    ):
        assert fact in ticket.body
    comment = CommentTicket(TicketDesk({"builtin": store}), {"ticket": ticket.id})
    assert (
        await comment(_hook_ctx(outcome="succeeded", exit_code=0))
        == f"commented on ticket {ticket.id} (built-in tracker)"
    )
    assert "`/disk web1`: succeeded (exit code 0)" in (await store.get(ticket.id)).comments[0].body


def test_hook_options_are_checked(store: BuiltinTickets) -> None:
    desk = TicketDesk({"builtin": store})
    with pytest.raises(ConfigError, match="'title' is required"):
        OpenTicket(desk, {})
    with pytest.raises(ConfigError, match="no ticket provider 'jira'"):
        OpenTicket(desk, {"title": "x", "provider": "jira"})
    with pytest.raises(ConfigError, match="priority must be one of"):
        OpenTicket(desk, {"title": "x", "priority": "urgent"})
    with pytest.raises(ConfigError, match="unknown option 'titel'"):
        OpenTicket(desk, {"titel": "x"})


async def test_change_review_with_builtin_changes(store: BuiltinTickets) -> None:
    now = dt.datetime(2030, 5, 4, 12, 0, tzinfo=UTC)
    change = await store.create_change(
        "rotate certs", start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1), author="alice"
    )
    assert change.id.startswith("CHG")
    with pytest.raises(ChangeRefused, match=rf"change {change.id} is not approved \(approval: requested\)"):
        await check_change(store, change.id, now=now)
    with pytest.raises(TicketError, match="someone else must approve it"):
        await store.decide_change(change.id, approver="alice", approve=True)
    await store.decide_change(change.id, approver="bob", approve=True)
    assert (await check_change(store, change.id, now=now)).approved
    with pytest.raises(ChangeRefused, match="window opens in 2 h 0 min"):
        await check_change(store, change.id, now=now - dt.timedelta(hours=3))
    with pytest.raises(ChangeRefused, match="window closed at 2030-05-04 13:00 UTC"):
        await check_change(store, change.id, now=now + dt.timedelta(hours=2))
    with pytest.raises(ChangeRefused, match="CHG0099999 was not found"):
        await check_change(store, "CHG0099999", now=now)


async def test_command_rules_for_changes(store: BuiltinTickets) -> None:
    migrate = CommandSpec("migrate-db", options={"not_from_chat": "schema migrations go through the CAB"})
    with pytest.raises(ChangeRefused, match="`migrate-db` is not run from chat: schema migrations go through"):
        await review(migrate, "CHG0000001", store)
    rotate = CommandSpec("rotate-certs", options={"change": "required"})
    with pytest.raises(ChangeRefused, match="needs an approved change ticket"):
        await review(rotate, None, store)
    assert await review(CommandSpec("status"), None, store) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'ticket open "disk full on web1" --priority p2',
            {"action": "open", "target": "disk full on web1", "priority": "p2"},
        ),
        ("ticket 17", {"action": "17", "priority": "p3"}),
        (
            'ticket comment 17 "freed 20 GB; watching it"',
            {"action": "comment", "target": "17", "text": "freed 20 GB; watching it", "priority": "p3"},
        ),
        (
            "ticket comment 17 freed 20 GB; watching it",
            {"action": "comment", "target": "17", "text": "freed 20 GB; watching it", "priority": "p3"},
        ),
        ("ticket close 17", {"action": "close", "target": "17", "priority": "p3"}),
    ],
)
def test_the_ticket_spec_parses_the_documented_forms(text: str, expected: dict[str, object]) -> None:
    from opsroom.commands.catalog import Catalog
    from opsroom.commands.lists import ChoiceLists
    from opsroom.commands.parser import parse

    inv = parse(text, Catalog([TICKET_SPEC], ChoiceLists()), Principal("alice"), Place("web", "ops"))
    assert {k: v for k, v in inv.args.items() if v is not None} == expected
