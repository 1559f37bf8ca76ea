"""The web chat's message store (prepared statements, values as parameters) on both backends."""

from __future__ import annotations

from opsroom.chat.web import store
from opsroom.store import Database


def test_messages_are_stored_edited_and_paged_in_order(db: Database) -> None:
    body = {"text": "deploy", "tone": "running", "blocks": [{"type": "section", "text": "<b>50%</b>"}]}
    with db.begin() as conn:
        first = store.insert(conn, channel="ops", sender="alice", text="/deploy api staging")
        bot = store.insert(
            conn, channel="ops", sender=store.BOT, text="deploy", is_bot=True, body=body, thread=first.id
        )
        secret = store.insert(
            conn, channel="ops", sender=store.BOT, text="only alice", is_bot=True, body=body, visible_to="alice"
        )
    assert first.id < bot.id < secret.id
    with db.begin() as conn:
        edited = store.edit(conn, bot.id, text="deploy done", body={**body, "tone": "success"})
        assert store.edit(conn, 999_999, text="x", body={}) is None
    assert edited is not None
    assert (edited.text, edited.body["tone"], edited.version) == ("deploy done", "success", 2)  # type: ignore[index]
    assert edited.edited_at is not None and edited.edited_at.tzinfo is not None
    with db.read() as conn:
        again = store.get(conn, bot.id)
        assert again == edited and again.thread == first.id and again.is_bot
        assert [m.id for m in store.page(conn, "ops", "alice")] == [first.id, bot.id, secret.id]
        assert [m.id for m in store.page(conn, "ops", "bob")] == [first.id, bot.id]
        assert [m.id for m in store.page(conn, "ops", "bob", after=first.id)] == [bot.id]
        assert store.page(conn, "leads", "alice") == [] and store.get(conn, 999_999) is None
