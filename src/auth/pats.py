"""The personal access token format of SPEC §1: `memos_pat_` + 32 characters of [0-9A-Za-z].

The last 6 characters are a base62 CRC32 of the 26 before them, so a mistyped or invented
token is refused by arithmetic alone, before any database read. Only the SHA-256 of a token
is ever stored: a leaked table holds nothing that authenticates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

PAT_PREFIX = "memos_pat_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_CHARS = 32
# 62**6 > 2**32, so six base62 digits hold any CRC32.
CHECKSUM_CHARS = 6
RANDOM_CHARS = BODY_CHARS - CHECKSUM_CHARS
TOKEN_CHARS = len(PAT_PREFIX) + BODY_CHARS
_BASE62_SET = frozenset(BASE62)


def _base62(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_CHARS)


def generate_pat() -> str:
    # 26 base62 characters carry ~154 bits of entropy from the OS's CSPRNG.
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    return PAT_PREFIX + random_part + checksum(random_part)


def is_well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum; no I/O, so it runs before any lookup."""
    if len(token) != TOKEN_CHARS or not token.startswith(PAT_PREFIX):
        return False
    body = token[len(PAT_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    return hmac.compare_digest(checksum(body[:RANDOM_CHARS]), body[RANDOM_CHARS:])


def hash_pat(token: str) -> str:
    """The table key: SHA-256, lowercase hex. A fast hash is enough for 154 random bits."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
