"""Password rules and bcrypt hashing (SPEC §3)."""

from __future__ import annotations

import functools

import bcrypt

from auth.errors import InvalidArgument

MIN_PASSWORD_CHARS = 8
# bcrypt reads only the first 72 bytes; longer input is refused, never silently truncated.
MAX_PASSWORD_BYTES = 72


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidArgument(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidArgument(f"password must be at most {MAX_PASSWORD_BYTES} bytes of UTF-8")


def hash_password(password: str, cost: int) -> str:
    validate_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant-time check (bcrypt compares in constant time); never raises on bad input."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


@functools.cache
def _decoy_hash(cost: int) -> str:
    return bcrypt.hashpw(b"memos-auth decoy password", bcrypt.gensalt(rounds=cost)).decode("ascii")


def spend_verify_time(password: str, cost: int) -> None:
    """Do the work of one verification when there is no user, so an unknown username takes
    as long as a wrong password and cannot be told apart by timing."""
    verify_password(password, _decoy_hash(cost))
