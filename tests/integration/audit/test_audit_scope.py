"""The visibility rule itself, on both backends: the SQL filter and the Python rule agree on
every row, and each kind of row is seen by exactly the people it should be."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from opsroom.audit import AuditLog
from opsroom.audit.visibility import AUDIT_ALL, AuditScope, scope_for
from opsroom.config.models import ChannelConfig
from opsroom.core import Decision, Place, Principal
from opsroom.store import Database
from opsroom.store.tables import runs

CHANNELS = [
    ChannelConfig(name="#ops"),  # everyone configured
    ChannelConfig(name="#leads", members=["carol", "role:lead"]),
    ChannelConfig(name="leads", platform="slack", id="C9", members=["carol"]),  # same name, other platform
]
ALICE = Principal("alice", frozenset({"sre"}))
BOB = Principal("bob", frozenset({"developer"}))
CAROL = Principal("carol", frozenset({"lead"}))
DORA = Principal("dora", frozenset({"auditor"}))
STRANGER = Principal.anonymous("slack", "U0STRANGER")

# (actor, channel, run_id, summary) -> who may see it (besides dora, who sees everything)
ROWS: list[tuple[str, str, int | None, str, set[str]]] = [
    ("bob", "#ops", None, "ops row by bob", {"alice", "bob", "carol"}),
    ("carol", "#leads", None, "leads row", {"carol"}),
    ("carol", "LEADS", None, "leads row spelled otherwise", {"carol"}),
    ("alice", "dm", None, "alice's DM", {"alice"}),
    ("alice", "", None, "alice signed in", {"alice"}),
    ("opsroom", "dm", 1, "alice's DM run was interrupted", {"alice"}),
    ("opsroom", "#random", None, "a channel with no membership list", {"alice", "bob", "carol"}),
    ("bob", "dm", 2, "bob approved carol's run from the console", {"bob", "carol"}),
    ("slack:U0STRANGER", "#random", None, "a stranger typed here", {"alice", "bob", "carol", "slack:U0STRANGER"}),
]


class Policy:
    configured = True

    def decide(self, principal: Principal, command: str, args: Any, place: Place) -> Decision:
        ok = command == AUDIT_ALL and "auditor" in principal.roles
        return Decision.allow() if ok else Decision.deny("no")


def _fill(db: Database) -> AuditLog:
    log = AuditLog(db)
    now = datetime.now(UTC)
    with db.begin() as conn:
        for run_id, user in ((1, "alice"), (2, "carol")):
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    command="deploy",
                    args={},
                    raw_text="deploy",
                    user=user,
                    platform="web",
                    channel="dm",
                    channel_name="dm",
                    state="succeeded",
                    created_at=now,
                )
            )
        for actor, channel, run_id, summary, _ in ROWS:
            log.append(conn, actor=actor, action="test", channel=channel, run_id=run_id, summary=summary)
    return log


def test_each_kind_of_row_is_seen_by_exactly_the_right_people(db: Database) -> None:
    log = _fill(db)
    owners = {1: "alice", 2: "carol"}
    everything = log.search("", limit=100)
    assert len(everything) == len(ROWS)
    for who in (ALICE, BOB, CAROL, DORA, STRANGER):
        scope = scope_for(who, CHANNELS, Policy())
        seen = {e.summary for e in log.search("", limit=100, scope=scope)}
        expected = {summary for _, _, _, summary, people in ROWS if who.name in people or who.name == "dora"}
        assert seen == expected, who.name
        # The Python rule (used to decide whether a chat answer may be public) agrees with SQL.
        by_rule = {e.summary for e in everything if scope.admits(e, owners.get(e.run_id or 0))}
        assert by_rule == expected, who.name
        exported = "".join(log.export_lines(scope=scope))
        assert all((summary in exported) == (summary in expected) for _, _, _, summary, _ in ROWS), who.name


def test_without_a_configured_policy_nobody_sees_everything(db: Database) -> None:
    log = _fill(db)

    class Open(Policy):
        configured = False

        def decide(self, principal: Principal, command: str, args: Any, place: Place) -> Decision:
            return Decision.allow()

    scope = scope_for(BOB, CHANNELS, Open())
    assert not scope.everything
    assert "leads row" not in {e.summary for e in log.search("", limit=100, scope=scope)}
    assert AuditScope.all().clause() is None
