"""Web chat channels opened at run time — an incident's war room — kept in
``webchat_channels`` next to the configured ones. A created channel lists its members like a
configured one (an empty list admits every configured user); archiving marks it (its
description says so) and keeps its history readable for those it admits."""

from __future__ import annotations

import re

from sqlalchemy import Connection, insert, select, update

from opsroom.chat.web.channels import WebChannel
from opsroom.chat.web.tables import webchat_channels as t
from opsroom.store.types import utcnow

_SLUG = re.compile(r"[^a-z0-9-]+")


def slug(name: str) -> str:
    """``#INC-3 Payments down!`` → ``inc-3-payments-down`` (at most 80 characters)."""
    return _SLUG.sub("-", name.lower().lstrip("#")).strip("-")[:80] or "channel"


def load(conn: Connection) -> list[WebChannel]:
    rows = conn.execute(select(t).order_by(t.c.created_at)).all()
    return [WebChannel(r.id, r.name, r.description, tuple(r.members)) for r in rows]


def create(
    conn: Connection, name: str, *, members: tuple[str, ...], topic: str, created_by: str, taken: set[str]
) -> WebChannel:
    """Insert a channel; ``taken`` are ids already in use (configured ones too): a clash
    gets a numeric suffix rather than joining someone else's channel."""
    base = slug(name)
    existing = {r.id for r in conn.execute(select(t.c.id).where(t.c.id.like(base + "%"))).all()} | taken
    cid, n = base, 2
    while cid in existing:
        cid, n = f"{base}-{n}", n + 1
    conn.execute(
        insert(t).values(
            id=cid,
            name="#" + cid,
            description=topic[:500],
            members=list(members),
            created_by=created_by,
            created_at=utcnow(),
        )
    )
    return WebChannel(cid, "#" + cid, topic[:500], members)


def archive(conn: Connection, cid: str) -> None:
    conn.execute(
        update(t)
        .where(t.c.id == cid, t.c.archived_at.is_(None))
        .values(archived_at=utcnow(), description="[archived] " + t.c.description)
    )
