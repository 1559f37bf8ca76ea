"""The in-memory session cache: fewer queries, but signing out and expiry still count at once."""

from __future__ import annotations

import time

from sqlalchemy import delete, event

from opsroom.chat.web.tables import web_sessions
from opsroom.store import Database
from opsroom.web import sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def count_queries(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "web_sessions" in statement:
            seen.append(statement)

    return seen


def test_a_signed_in_browser_is_not_looked_up_on_every_request(db: Database) -> None:
    cookie, session = sessions.create_session(db, "alice", hours=1)
    cache = sessions.SessionCache(db, ttl=10, clock=Clock())
    queries = count_queries(db)
    assert cache.load(cookie) == session
    for _ in range(20):
        assert cache.load(cookie) == session
    assert len(queries) == 1


def test_signing_out_through_the_cache_ends_the_session_at_once(db: Database) -> None:
    cookie, _ = sessions.create_session(db, "alice", hours=1)
    cache = sessions.SessionCache(db, ttl=3600, clock=Clock())
    assert cache.load(cookie) is not None
    cache.end(cookie)
    assert cache.load(cookie) is None, "a copied cookie must stop working when its owner signs out"
    assert sessions.load_session(db, cookie) is None, "and the row is gone from the database"


def test_a_session_removed_elsewhere_is_noticed_within_the_ttl(db: Database) -> None:
    cookie, _ = sessions.create_session(db, "alice", hours=1)
    clock = Clock()
    cache = sessions.SessionCache(db, ttl=10, clock=clock)
    assert cache.load(cookie) is not None
    with db.begin() as conn:  # another opsroom process signed the browser out
        conn.execute(delete(web_sessions))
    clock.now += 9.9
    assert cache.load(cookie) is not None  # the documented window
    clock.now += 0.2
    assert cache.load(cookie) is None


def test_an_expired_session_is_refused_even_while_cached(db: Database) -> None:
    cookie, _ = sessions.create_session(db, "alice", hours=0.3 / 3600)  # ends in 0.3 s
    cache = sessions.SessionCache(db, ttl=3600, clock=Clock())
    assert cache.load(cookie) is not None
    time.sleep(0.4)
    assert cache.load(cookie) is None


def test_wrong_or_absurd_cookies_are_never_cached(db: Database) -> None:
    cache = sessions.SessionCache(db, ttl=10, clock=Clock())
    assert cache.load("") is None and cache.load("x" * 201) is None
    for guess in ("a", "b", "c"):
        assert cache.load(guess) is None
    assert cache._found == {}
    cookie, _ = sessions.create_session(db, "alice", hours=1)
    assert cache.load(cookie + "x") is None


def test_the_cache_holds_at_most_size_sessions(db: Database) -> None:
    cache = sessions.SessionCache(db, ttl=10, size=3, clock=Clock())
    cookies = [sessions.create_session(db, f"user{i}", hours=1)[0] for i in range(5)]
    for cookie in cookies:
        assert cache.load(cookie) is not None
    assert len(cache._found) == 3
    assert sessions.digest(cookies[0]) not in cache._found and sessions.digest(cookies[-1]) in cache._found
