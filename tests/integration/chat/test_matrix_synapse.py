"""End to end against a real Synapse: the real engine with the bundled demo config and the
Matrix adapter, people driving it with matrix-nio. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nio import RoomPreset
from tests.support.matrix_people import PASSWORD, Person, body_of, relation
from tests.support.synapse import Synapse
from tests.support.system import demo_data, make_system

from opsroom.app import System
from opsroom.chat.matrix import MatrixAdapter
from opsroom.config.chat import MatrixConfig
from opsroom.core import RunState
from opsroom.runs import store as run_store

BOT = "@opsroom:localhost"
PEOPLE = ("alice", "bob", "carol")


def matrix_id(name: str) -> str:
    return f"@{name}:localhost"


def demo_with_matrix_users() -> dict[str, Any]:
    data = demo_data()
    for name in PEOPLE:
        data["users"][name]["identities"]["matrix"] = matrix_id(name)
    return data


@dataclass
class Room:
    system: System
    adapter: MatrixAdapter
    people: dict[str, Person]
    room_id: str

    def runs(self) -> list[run_store.RunRow]:
        with self.system.db.read() as conn:
            return run_store.list_runs(conn, limit=100)

    async def until(self, check: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)

    def bot_events(self, person: str = "alice") -> list[dict[str, Any]]:
        return [
            e
            for e in self.people[person].events
            if e.get("sender") == BOT and e["room_id"] == self.room_id and e.get("type") == "m.room.message"
        ]

    async def bot_says(self, text: str, *, thread: str | None = None, person: str = "alice") -> dict[str, Any]:
        """The bot's message (or edit) in the room, in ``thread`` if given, showing ``text``."""

        def match(e: dict[str, Any]) -> bool:
            if e.get("sender") != BOT or e["room_id"] != self.room_id or text not in body_of(e):
                return False
            if thread is None:
                return True
            kind, target = relation(e)
            return (kind == "m.thread" and target == thread) or (
                kind == "m.replace"
                and any(
                    b["event_id"] == target and relation(b) == ("m.thread", thread) for b in self.bot_events(person)
                )
            )

        return await self.people[person].wait_for(match, room_id=self.room_id)


def start_system(
    tmp_path: Path,
    db_url: str,
    synapse: Synapse,
    monkeypatch: pytest.MonkeyPatch,
    invites_from: str = "localhost",
    rooms: tuple[str, ...] = (),
) -> System:
    config = MatrixConfig(
        homeserver=synapse.url, user_id=BOT, password=PASSWORD, invites_from_servers=[invites_from], rooms=list(rooms)
    )
    adapter = MatrixAdapter(config, store=tmp_path / "matrix-store", known_users={matrix_id(n) for n in PEOPLE})
    system, _ = make_system(
        tmp_path,
        db_url,
        demo_with_matrix_users(),
        adapter=adapter,  # type: ignore[arg-type]
        monkeypatch=monkeypatch,
    )
    return system


@asynccontextmanager
async def matrix_room(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch, *, encrypted: bool = False
) -> AsyncIterator[Room]:
    people = {n: Person(synapse.url, matrix_id(n), tmp_path / f"people-{n}") for n in PEOPLE}
    system = start_system(tmp_path, db_url, synapse, monkeypatch)
    adapter = system.chat.get("matrix")
    assert isinstance(adapter, MatrixAdapter)
    await system.start()
    try:
        for person in people.values():
            await person.start()
        room_id = await people["alice"].create_room(
            [BOT, matrix_id("bob"), matrix_id("carol")], name="ops", encrypted=encrypted
        )
        await people["bob"].join(room_id)
        await people["carol"].join(room_id)
        await people["alice"].wait_for(
            lambda e: (
                e.get("type") == "m.room.member"
                and e.get("state_key") == BOT
                and e["content"].get("membership") == "join"
            ),
            room_id=room_id,
        )
        yield Room(system, adapter, people, room_id)
    finally:
        for person in people.values():
            await person.stop()
        await system.runs.drain()
        await system.stop()
        system.db.dispose()


async def test_a_command_runs_with_its_progress_edited_in_a_thread(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch) as room:
        root = await room.people["alice"].say(room.room_id, "release train 42")
        await room.people["alice"].say(room.room_id, "!deploy api-gateway staging", thread=root)
        done = await room.bot_says("succeeded", thread=root)
        assert relation(done)[0] == "m.replace", "the progress message is edited in place, not reposted"
        await room.until(lambda: bool(room.runs()) and room.runs()[0].state == RunState.SUCCEEDED)
        [run] = room.runs()
        assert run.user == "alice"
        threaded = [e for e in room.bot_events() if relation(e) == ("m.thread", root)]
        assert len(threaded) == 1, "one progress message in the thread, every update an edit of it"
        assert threaded[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == root, "reply fallback"
        assert not [e for e in room.bot_events() if relation(e)[0] == ""], "nothing posted outside the thread"


async def test_an_approval_by_reaction_counts_only_from_an_approver(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch) as room:
        await room.people["alice"].say(room.room_id, "!deploy payments production")
        request = await room.bot_says("needs approval")
        assert "react ✅" in body_of(request) and "!approve" in body_of(request)
        # bob is no approver: his ✅ must not start the run
        await room.people["bob"].react(room.room_id, request["event_id"], "✅")
        await room.bot_says("you are not an approver for run #1")
        [run] = room.runs()
        assert run.state == RunState.AWAITING_APPROVAL
        # alice asked for it: she cannot approve her own run either
        await room.people["alice"].react(room.room_id, request["event_id"], "✅")
        await room.bot_says("you asked for run #1; someone else must approve it")
        assert room.runs()[0].state == RunState.AWAITING_APPROVAL
        await room.people["carol"].react(room.room_id, request["event_id"], "✅\ufe0f")
        await room.until(lambda: room.runs()[0].state == RunState.SUCCEEDED)
        actions = [(e.action, e.actor) for e in room.system.audit.for_run(run.id)]
        assert ("approval.refused", "bob") in actions and ("approval.refused", "alice") in actions
        assert ("approval.approved", "carol") in actions


async def test_a_deny_names_the_command_to_type_and_the_typed_reason_denies(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch) as room:
        await room.people["alice"].say(room.room_id, "!deploy payments production")
        request = await room.bot_says("needs approval")
        assert "Deny*: type `!deny 1 <reason>`" in body_of(request) and "react ❌" not in body_of(request)
        # a ❌ reaction cannot carry the reason: it is answered with exactly what to type
        await room.people["carol"].react(room.room_id, request["event_id"], "❌")
        await room.bot_says("To deny, type `!deny 1 <reason>`")
        assert room.runs()[0].state == RunState.AWAITING_APPROVAL
        await room.people["carol"].say(room.room_id, "!deny 1 not during the sale")
        await room.until(lambda: room.runs()[0].state == RunState.DENIED)
        [denied] = [e for e in room.system.audit.for_run(room.runs()[0].id) if e.action == "approval.denied"]
        assert denied.actor == "carol" and "not during the sale" in denied.summary
        await room.bot_says("run #1 denied by carol: not during the sale")


async def test_a_command_the_policy_denies_is_refused_and_nothing_runs(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch) as room:
        await room.people["bob"].say(room.room_id, "!deploy payments production")
        denial = await room.bot_says("⛔", person="bob")
        assert "deploy" in body_of(denial)
        await asyncio.sleep(1)
        assert all(r.state != RunState.SUCCEEDED for r in room.runs())


async def test_a_command_in_an_encrypted_room_is_answered_encrypted(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    mallory = Person(synapse.url, matrix_id("mallory"), tmp_path / "people-mallory")  # not in the directory
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch, encrypted=True) as room:
        await mallory.start()
        try:
            await room.people["alice"].client.room_invite(room.room_id, mallory.user_id)
            await mallory.join(room.room_id)
            await room.people["alice"].wait_for(
                lambda e: (
                    e.get("type") == "m.room.member"
                    and e.get("state_key") == mallory.user_id
                    and e["content"].get("membership") == "join"
                ),
                room_id=room.room_id,
            )
            await room.people["alice"].say(room.room_id, "!deploy api-gateway staging")
            done = await room.bot_says("succeeded")
            assert done["decrypted"], "the bot's answer travelled encrypted"
            assert room.runs()[0].user == "alice"
            # trust: directory — mallory's device got no room key: she sees only ciphertext
            seen = await mallory.wait_for(
                lambda e: e.get("sender") == BOT and e.get("type") == "m.room.encrypted", room_id=room.room_id
            )
            assert "ciphertext" in seen["content"]
            assert not [
                e for e in mallory.events if e["room_id"] == room.room_id and e.get("sender") == BOT and e["decrypted"]
            ]
        finally:
            await mallory.stop()


async def test_a_restart_neither_replays_a_command_nor_misses_one_sent_meanwhile(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with matrix_room(tmp_path, db_url, synapse, monkeypatch) as room:
        await room.people["alice"].say(room.room_id, "!deploy api-gateway staging")
        await room.bot_says("staging` `latest` · run #1 · succeeded")
        await room.system.runs.drain()
        await room.system.stop()
        room.system.db.dispose()
        # while opsroom is down
        await room.people["alice"].say(room.room_id, "!deploy api-gateway dev")
        again = start_system(tmp_path, db_url, synapse, monkeypatch)
        await again.start()
        room.system = again
        await room.bot_says("dev` `latest` · run #2 · succeeded")
        await room.until(lambda: len(room.runs()) >= 2 and all(r.state == RunState.SUCCEEDED for r in room.runs()))
        await asyncio.sleep(2)  # a replay would start a third run within a sync round trip
        runs = room.runs()
        assert sorted(r.args.get("env", "") for r in runs) == ["dev", "staging"], "each command ran exactly once"


async def test_an_invite_from_a_server_not_allowed_is_ignored(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = start_system(tmp_path, db_url, synapse, monkeypatch, invites_from="ops.example.org")
    adapter = system.chat.get("matrix")
    assert isinstance(adapter, MatrixAdapter)
    alice = Person(synapse.url, matrix_id("alice"), tmp_path / "alice")
    await system.start()
    try:
        await alice.start()
        room_id = await alice.create_room([BOT], name="not-allowed")
        await asyncio.wait_for(adapter.synced.wait(), 60)
        joined = await alice.client.joined_members(room_id)
        deadline = time.monotonic() + 3  # a few sync round trips: an accepted invite would show
        while time.monotonic() < deadline:
            assert BOT not in {m.user_id for m in getattr(joined, "members", [])}
            assert room_id not in adapter.client.rooms or BOT not in adapter.client.rooms[room_id].users
            await asyncio.sleep(0.3)
            joined = await alice.client.joined_members(room_id)
        await alice.say(room_id, "!deploy api-gateway staging")
        await asyncio.sleep(1)
        with system.db.read() as conn:
            assert run_store.list_runs(conn, limit=10) == []
    finally:
        await alice.stop()
        await system.stop()
        system.db.dispose()


@pytest.mark.timeout(360)  # several round trips through Synapse on a loaded machine
async def test_the_bot_joins_its_configured_room_and_a_typed_approval_works(
    tmp_path: Path, db_url: str, synapse: Synapse, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Person(synapse.url, matrix_id("alice"), tmp_path / "alice")
    carol = Person(synapse.url, matrix_id("carol"), tmp_path / "carol")
    await alice.start()
    await carol.start()
    system = None
    try:
        created = await alice.client.room_create(name="ops", preset=RoomPreset.public_chat)
        room_id = str(created.room_id)
        await carol.join(room_id)
        # no invite: the bot joins because the room is in its config (and only invites from elsewhere are ignored)
        system = start_system(tmp_path, db_url, synapse, monkeypatch, invites_from="ops.example.org", rooms=(room_id,))
        await system.start()
        await alice.wait_for(
            lambda e: (
                e.get("type") == "m.room.member"
                and e.get("state_key") == BOT
                and e["content"].get("membership") == "join"
            ),
            room_id=room_id,
        )
        await alice.say(room_id, "!deploy payments production")
        await alice.wait_for(lambda e: e.get("sender") == BOT and "needs approval" in body_of(e), room_id=room_id)
        await carol.say(room_id, "!approve 1")

        def succeeded() -> bool:
            with system.db.read() as conn:  # type: ignore[union-attr]
                return [r.state for r in run_store.list_runs(conn, limit=10)] == [RunState.SUCCEEDED]

        deadline = time.monotonic() + 60
        while not succeeded():
            assert time.monotonic() < deadline, "carol's typed approval did not start the run"
            await asyncio.sleep(0.1)
    finally:
        await alice.stop()
        await carol.stop()
        if system is not None:
            await system.runs.drain()
            await system.stop()
            system.db.dispose()
