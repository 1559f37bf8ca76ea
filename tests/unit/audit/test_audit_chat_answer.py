"""Who gets to read a chat ``/audit`` answer: the channel only when every entry is from it;
else the asker alone (ephemeral), or nobody when the platform cannot whisper."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from opsroom.audit.chain import AuditEntry
from opsroom.audit.chat import answer
from opsroom.audit.query import parse_query
from opsroom.audit.visibility import AuditScope
from opsroom.core import CommandSpec, Invocation, Place, Principal

CAROL = Principal("carol", identities=MappingProxyType({"slack": "U0CAROL"}))
BY_EMAIL = Principal("dan")  # matched by e-mail: no Slack id known


def entry(channel: str, summary: str) -> AuditEntry:
    return AuditEntry(
        1,
        datetime(2026, 1, 1, tzinfo=UTC),
        "carol",
        "decision",
        "deploy",
        "slack",
        channel,
        None,
        summary,
        {},
        "0" * 64,
        "1" * 64,
    )


class Log:
    def __init__(self, entries: list[AuditEntry]) -> None:
        self.entries = entries
        self.scopes: list[Any] = []

    def parse(self, text: str) -> Any:
        return parse_query(text)

    def search(self, query: Any, *, limit: int, scope: AuditScope) -> list[AuditEntry]:
        self.scopes.append(scope)
        return self.entries


def ask(principal: Principal, place: Place) -> Invocation:
    return Invocation(CommandSpec("audit", builtin=True), {"query": "deploy"}, "audit deploy", principal, place)


OPS = Place("slack", "C1", channel_name="#ops")
SCOPE = AuditScope("carol", readable=frozenset({"ops", "leads"}))


def test_entries_only_from_this_channel_are_answered_for_the_channel() -> None:
    log = Log([entry("#ops", "ops thing")])
    message = answer(log, SCOPE, ask(CAROL, OPS), can_whisper=True)
    assert message.ephemeral_to is None and "ops thing" in message.as_text()
    assert log.scopes == [SCOPE]  # the search ran with the asker's scope


def test_entries_from_elsewhere_go_to_the_asker_alone() -> None:
    log = Log([entry("#ops", "ops thing"), entry("#leads", "leads secret")])
    message = answer(log, SCOPE, ask(CAROL, OPS), can_whisper=True)
    assert message.ephemeral_to == "U0CAROL" and "leads secret" in message.as_text()


def test_without_a_way_to_whisper_nothing_is_shown() -> None:
    log = Log([entry("dm", "bob wrote in private")])
    for principal, can in ((CAROL, False), (BY_EMAIL, True)):
        message = answer(log, SCOPE, ask(principal, OPS), can_whisper=can)
        assert message.ephemeral_to is None and "bob wrote in private" not in message.as_text()
        assert "direct message" in message.as_text()  # says where to ask instead


def test_a_dm_and_the_server_shell_are_private_already() -> None:
    log = Log([entry("#leads", "leads secret")])
    for place in (Place("slack", "D1", is_direct=True), Place("shell", "ops", channel_name="#ops")):
        message = answer(log, SCOPE, ask(CAROL, place), can_whisper=False)
        assert "leads secret" in message.as_text() and message.ephemeral_to is None
