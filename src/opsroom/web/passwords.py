"""Password hashes for web sign-in: argon2id (argon2-cffi) is what we write; bcrypt hashes
(``$2b$…``) are accepted too when the ``bcrypt`` package is installed."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
MIN_LENGTH = 8


@functools.cache
def _dummy() -> str:
    """A hash of a random password, verified against when the user is unknown, so a sign-in
    attempt takes as long for a missing user as for a wrong password. Made on first use (or
    by ``warm()`` once the server is up), not at import: hashing costs ~0.1 s and 64 MiB."""
    return _hasher.hash("opsroom-no-such-user-7c1f0e")


def warm() -> None:
    """Make the dummy hash now (the server calls this after it is ready), so the first
    sign-in of an unknown user takes no longer than any other."""
    _dummy()


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if not stored_hash:
        try:
            _hasher.verify(_dummy(), password)
        except VerificationError:
            pass
        return False
    if stored_hash.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            import bcrypt
        except ImportError:
            return False
        return bool(bcrypt.checkpw(password.encode(), stored_hash.encode()))
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
