"""Browser sessions and personal API tokens, both kept in the database as SHA-256 hashes.

A session cookie is a random 256-bit value; the row holds its hash, the user, the CSRF
token of that session and when it ends. Signing out deletes the row, so a stolen cookie
stops working at once. API tokens (``opr_…``) are shown once when created; only their hash
is stored.

``SessionCache`` keeps sessions recently read from the database for a few seconds, so a
signed-in browser's every request (each chat post) does not cost a query; signing out
through it forgets the session at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from opsroom.chat.web.tables import api_tokens, web_sessions
from opsroom.clock import utcnow
from opsroom.store import Database
from opsroom.store.types import as_utc

TOKEN_PREFIX = "opr_"  # noqa: S105 - a prefix, not a secret
SESSION_HOURS = 12
# How long a session read from the database is trusted without reading it again. Signing out
# in this process takes effect at once; another opsroom process sharing the database (not a
# supported set-up yet) would notice a sign-out within this many seconds.
SESSION_CACHE_SECONDS = 10.0
SESSION_CACHE_SIZE = 10_000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires_at: dt.datetime


def create_session(db: Database, user: str, *, hours: float = SESSION_HOURS) -> tuple[str, Session]:
    """Returns (cookie value, session)."""
    cookie = secrets.token_urlsafe(32)
    now = utcnow()
    session = Session(user, secrets.token_urlsafe(24), now + dt.timedelta(hours=hours))
    with db.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
        conn.execute(
            insert(web_sessions).values(
                id_hash=digest(cookie), user=user, csrf=session.csrf, created_at=now, expires_at=session.expires_at
            )
        )
    return cookie, session


def load_session(db: Database, cookie: str) -> Session | None:
    if not cookie or len(cookie) > 200:
        return None
    with db.read() as conn:
        row = conn.execute(select(web_sessions).where(web_sessions.c.id_hash == digest(cookie))).first()
    if row is None:
        return None
    expires = as_utc(row.expires_at)
    if expires <= utcnow():
        return None
    return Session(row.user, row.csrf, expires)


def end_session(db: Database, cookie: str) -> None:
    with db.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == digest(cookie)))


class SessionCache:
    """Sessions read from the database in the last ``ttl`` seconds, by cookie hash.

    Only sessions that exist are kept (a wrong cookie is always looked up), each is checked
    against its own expiry on every use, and at most ``size`` are held (the oldest read go
    first). ``end`` deletes the session and forgets it in the same step.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = SESSION_CACHE_SECONDS,
        size: int = SESSION_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.size = size
        self._clock = clock
        # Used from the event loop only (like the rest of the handlers), so no lock.
        self._found: OrderedDict[str, tuple[float, Session]] = OrderedDict()

    def load(self, cookie: str) -> Session | None:
        if not cookie or len(cookie) > 200:
            return None
        key = digest(cookie)
        now = self._clock()
        hit = self._found.get(key)
        if hit is not None:
            read_at, cached = hit
            if now - read_at < self.ttl and cached.expires_at > utcnow():
                return cached
            self._forget(key)
        found = load_session(self.db, cookie)
        if found is not None:
            self._found[key] = (now, found)
            while len(self._found) > self.size:
                self._found.popitem(last=False)  # the one read longest ago
        return found

    def end(self, cookie: str) -> None:
        """Sign out: forget the session here first, then delete it from the database."""
        self._forget(digest(cookie))
        end_session(self.db, cookie)

    def _forget(self, key: str) -> None:
        self._found.pop(key, None)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


def create_token(db: Database, user: str, name: str = "", *, days: float | None = None) -> tuple[str, int]:
    """Returns (the token — show it once, it is not stored —, its id)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with db.begin() as conn:
        result = conn.execute(
            insert(api_tokens).values(
                user=user,
                name=name[:100],
                token_hash=digest(token),
                prefix=token[:10],
                created_at=now,
                expires_at=now + dt.timedelta(days=days) if days else None,
                last_used_at=None,
                revoked=False,
            )
        )
    return token, int(result.inserted_primary_key[0])  # type: ignore[index]


def check_token(db: Database, token: str) -> str | None:
    """The user a valid token belongs to, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with db.read() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest(token))).first()
    if row is None or row.revoked:
        return None
    now = utcnow()
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    last = row.last_used_at
    if last is None or (now - as_utc(last)).total_seconds() > 60:  # one write a minute at most
        with db.begin() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now))
    return str(row.user)


def list_tokens(db: Database, user: str | None = None) -> list[TokenInfo]:
    query = select(api_tokens).order_by(api_tokens.c.id)
    if user:
        query = query.where(api_tokens.c.user == user)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [
        TokenInfo(
            int(r.id),
            r.user,
            r.name,
            r.prefix,
            as_utc(r.created_at),
            as_utc(r.expires_at) if r.expires_at else None,
            as_utc(r.last_used_at) if r.last_used_at else None,
            bool(r.revoked),
        )
        for r in rows
    ]


def revoke_token(db: Database, token_id: int) -> bool:
    with db.begin() as conn:
        result = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked=True))
    return bool(result.rowcount)
