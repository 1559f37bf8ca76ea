"""Passwords, sign-in rate limits, channel membership, sessions and tokens."""

from __future__ import annotations

import pytest

from opsroom.chat.web.channels import Channels, dm_id
from opsroom.config.models import ChannelConfig
from opsroom.core import Principal
from opsroom.store import Database
from opsroom.web import sessions
from opsroom.web.passwords import hash_password, verify_password
from opsroom.web.ratelimit import AttemptLimiter
from opsroom.web.signin import safe_next


def test_argon2_hashes_verify_and_reject() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert not verify_password("", "anything") and not verify_password("not-a-hash", "x")
    with pytest.raises(ValueError):
        hash_password("short")


def test_rate_limits_per_user_and_per_address() -> None:
    now = [0.0]
    limiter = AttemptLimiter(per_address=4, per_user=2, window=60, clock=lambda: now[0])
    for _ in range(2):
        assert limiter.retry_after("1.2.3.4", "alice") == 0
        limiter.attempt("1.2.3.4")
        limiter.failed("alice")
    assert limiter.retry_after("1.2.3.4", "Alice") == 60, "user names are counted case-insensitively"
    assert limiter.retry_after("5.6.7.8", "bob") == 0
    limiter.attempt("1.2.3.4")
    limiter.attempt("1.2.3.4")
    assert limiter.retry_after("1.2.3.4", "bob") > 0, "the address is used up"
    now[0] = 61
    assert limiter.retry_after("1.2.3.4", "alice") == 0, "the window slides"


def test_channel_membership_by_user_and_role() -> None:
    channels = Channels(
        [
            ChannelConfig(name="#ops"),
            ChannelConfig(name="#leads", members=["role:sre-lead", "dave"]),
            ChannelConfig(name="#elsewhere", platform="slack", id="C1"),
        ]
    )
    alice = Principal("alice", frozenset({"sre"}))
    carol = Principal("carol", frozenset({"sre-lead"}))
    dave = Principal("dave")
    stranger = Principal.anonymous("web", "x")
    assert [c.name for c in channels.visible(alice)] == ["#ops"]
    assert channels.may_see(carol, "leads") and channels.may_see(dave, "leads")
    assert not channels.may_see(stranger, "ops"), "unknown people see nothing"
    assert not channels.may_see(alice, "C1") and not channels.may_see(alice, "nope")
    assert channels.may_see(alice, dm_id("alice")) and not channels.may_see(alice, dm_id("carol"))
    assert channels.place("ops").name == "#ops" and channels.place(dm_id("alice")).is_direct


def test_safe_next_stays_on_this_server() -> None:
    for bad in ("https://evil.example", "//evil.example", "/\\evil.example", "javascript:x", None, ""):
        assert safe_next(bad) == "/chat"
    assert safe_next("/console/runs?state=failed") == "/console/runs?state=failed"


def test_sessions_and_tokens_are_stored_hashed(db: Database) -> None:
    cookie, session = sessions.create_session(db, "alice", hours=1)
    assert sessions.load_session(db, cookie) == session
    assert sessions.load_session(db, cookie + "x") is None and sessions.load_session(db, "") is None
    sessions.end_session(db, cookie)
    assert sessions.load_session(db, cookie) is None
    expired, _ = sessions.create_session(db, "alice", hours=-1)
    assert sessions.load_session(db, expired) is None

    token, token_id = sessions.create_token(db, "bob", "ci")
    assert token.startswith("opr_") and sessions.check_token(db, token) == "bob"
    from sqlalchemy import select

    from opsroom.chat.web.tables import api_tokens, web_sessions

    with db.read() as conn:
        stored = [tuple(r) for r in conn.execute(select(api_tokens))] + [
            tuple(r) for r in conn.execute(select(web_sessions))
        ]
    assert token not in repr(stored) and cookie not in repr(stored)
    assert sessions.check_token(db, "opr_" + "x" * 43) is None and sessions.check_token(db, "bearer") is None
    short, _ = sessions.create_token(db, "bob", days=-1)
    assert sessions.check_token(db, short) is None, "expired"
    assert sessions.revoke_token(db, token_id) and sessions.check_token(db, token) is None
    assert [t.revoked for t in sessions.list_tokens(db, "bob")] == [True, False]


def test_importing_passwords_hashes_nothing_and_unknown_users_still_cost_a_verify() -> None:
    """Start-up does no argon2 work (0.1 s, 64 MiB at peak); the dummy hash is made on first
    use (or warmed once the server is ready) and an unknown user is still refused."""
    import importlib

    from opsroom.web import passwords

    passwords = importlib.reload(passwords)
    assert passwords._dummy.cache_info().currsize == 0
    assert passwords.verify_password("", "whatever-password") is False
    assert passwords._dummy.cache_info().currsize == 1
