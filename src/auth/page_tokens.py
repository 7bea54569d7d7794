"""The `pageToken` of GET /api/v1/users: an opaque name for where the last page ended.

A token is the id of the last user on the page and a check of it, as base64url text: the
listing resumes the Users table's Scan after that user's item. The check (a truncated
SHA-256, no key) makes a token changed in transit or by hand a 400 rather than a silent jump
to another place. It is not a MAC, and needs not be: a token is a position, not a grant; the
listing is admin-only and an admin may list every user anyway, so a token forged with the
check recomputed gains nothing. Anything not shaped like a token this API hands out is a
400, never a DynamoDB ValidationException (a 503) or a restart from the beginning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from auth.errors import InvalidArgument

_PREFIX = "u"
# An id as sign-up assigns them: a positive integer without leading zeros, within int64.
_ID = re.compile(r"[1-9][0-9]{0,17}")
# Hex digits of the check: 48 bits, so a changed token passes by chance once in 2**48.
_CHECK_CHARS = 12
# A token is short; this bounds the work of refusing a long one.
MAX_TOKEN_CHARS = 64


def _check(position: str) -> str:
    return hashlib.sha256(position.encode()).hexdigest()[:_CHECK_CHARS]


def encode(last_user_id: int) -> str:
    position = f"{_PREFIX}{last_user_id}"
    return base64.urlsafe_b64encode(f"{position}.{_check(position)}".encode()).decode().rstrip("=")


def decode(token: str) -> int:
    """The id of the user the next page starts after; InvalidArgument for anything else."""
    invalid = InvalidArgument("invalid pageToken")
    if not token or len(token) > MAX_TOKEN_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise invalid
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    position, _, check = text.partition(".")
    if not position.startswith(_PREFIX) or not _ID.fullmatch(position[len(_PREFIX) :]):
        raise invalid
    if check != _check(position):
        raise invalid
    user_id = int(position[len(_PREFIX) :])
    # Only the canonical spelling: one position has one token.
    if encode(user_id) != token:
        raise invalid
    return user_id
