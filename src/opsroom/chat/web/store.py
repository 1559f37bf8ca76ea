"""Reading and writing web chat messages. Short transactions; ids are the cursor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update
from sqlalchemy import insert as sql_insert

from opsroom.chat.web.tables import webchat_messages as t
from opsroom.store.types import as_utc, utcnow

BOT = "opsroom"
MAX_PAGE = 200

# Built once: building a statement with ``.values(...)`` on every message costs more than
# running it (two inserts per command under load); the values go in as parameters.
_INSERT = sql_insert(t)
_EDIT = (
    update(t)
    .where(t.c.id == bindparam("message_id"))
    .values(
        text=bindparam("new_text", type_=t.c.text.type),
        body=bindparam("new_body", type_=t.c.body.type),
        edited_at=bindparam("edited", type_=t.c.edited_at.type),
        version=t.c.version + 1,
    )
)
_GET = select(t).where(t.c.id == bindparam("message_id"))
_REPLY_COUNT = select(func.count()).select_from(t).where(t.c.thread == bindparam("parent"), t.c.visible_to.is_(None))


@dataclass(frozen=True)
class StoredMessage:
    id: int
    channel: str
    thread: int | None
    sender: str
    is_bot: bool
    text: str
    body: dict[str, Any] | None
    visible_to: str | None
    created_at: dt.datetime
    edited_at: dt.datetime | None
    version: int


def _row(r: Any) -> StoredMessage:
    m = r._mapping
    return StoredMessage(
        int(m["id"]),
        m["channel"],
        None if m["thread"] is None else int(m["thread"]),
        m["sender"],
        bool(m["is_bot"]),
        m["text"],
        m["body"],
        m["visible_to"],
        as_utc(m["created_at"]),
        as_utc(m["edited_at"]),
        int(m["version"]),
    )


def insert(
    conn: Connection,
    *,
    channel: str,
    sender: str,
    text: str,
    is_bot: bool = False,
    body: dict[str, Any] | None = None,
    thread: int | None = None,
    visible_to: str | None = None,
) -> StoredMessage:
    now = utcnow()
    result = conn.execute(
        _INSERT,
        {
            "channel": channel,
            "thread": thread,
            "sender": sender,
            "is_bot": is_bot,
            "text": text,
            "body": body,
            "visible_to": visible_to,
            "created_at": now,
            "edited_at": None,
            "version": 1,
        },
    )
    new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return StoredMessage(new_id, channel, thread, sender, is_bot, text, body, visible_to, now, None, 1)


def edit(conn: Connection, message_id: int, *, text: str, body: dict[str, Any]) -> StoredMessage | None:
    conn.execute(_EDIT, {"message_id": message_id, "new_text": text, "new_body": body, "edited": utcnow()})
    return get(conn, message_id)


def get(conn: Connection, message_id: int) -> StoredMessage | None:
    row = conn.execute(_GET, {"message_id": message_id}).first()
    return _row(row) if row else None


def page(
    conn: Connection,
    channel: str,
    viewer: str,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    top_level: bool = False,
) -> list[StoredMessage]:
    """Messages of a channel the viewer may see, oldest first. ``before``: the page ending
    just before that id (scrolling back); ``after``: what came after it (catching up).
    ``top_level``: leave thread replies out (the channel view draws them in the thread pane)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(t).where(t.c.channel == channel, or_(t.c.visible_to.is_(None), t.c.visible_to == viewer))
    if top_level:
        query = query.where(t.c.thread.is_(None))
    if after is not None:
        rows = conn.execute(query.where(t.c.id > after).order_by(t.c.id).limit(limit)).all()
        return [_row(r) for r in rows]
    if before is not None:
        query = query.where(t.c.id < before)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
    return [_row(r) for r in reversed(rows)]


def thread(conn: Connection, channel: str, viewer: str, parent: int, limit: int = MAX_PAGE) -> list[StoredMessage]:
    """A thread as its pane shows it: the parent first, then its replies the viewer may see."""
    query = (
        select(t)
        .where(
            t.c.channel == channel,
            or_(t.c.id == parent, t.c.thread == parent),
            or_(t.c.visible_to.is_(None), t.c.visible_to == viewer),
        )
        .order_by(t.c.id)
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    return [_row(r) for r in conn.execute(query)]


def reply_count(conn: Connection, parent: int) -> int:
    """Replies everyone in the channel sees (an "only you" answer does not count)."""
    return int(conn.execute(_REPLY_COUNT, {"parent": parent}).scalar_one())


def reply_counts(conn: Connection, parents: list[int]) -> dict[int, int]:
    """Reply counts of many parents in one query (a page of the channel)."""
    if not parents:
        return {}
    rows = conn.execute(
        select(t.c.thread, func.count()).where(t.c.thread.in_(parents), t.c.visible_to.is_(None)).group_by(t.c.thread)
    )
    return {int(r[0]): int(r[1]) for r in rows}
