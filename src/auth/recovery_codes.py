"""Recovery codes (SPEC §7): ten one-time codes, shown once, for when the phone is gone.

Each code is 12 characters of RFC 4648's base32 alphabet, lower case (60 bits), shown in
groups of four (`abcd-efgh-ijkl`). Only the SHA-256 of each is stored: with 60 random bits
a code cannot be found from its hash by trying, so a slow hash would buy nothing. A code
presented is normalised (case, dashes and spaces do not matter) and looked up by its hash,
so no comparison of secrets happens in Python at all.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
# 12 characters x 5 bits = 60 bits (SPEC §7: at least 50).
CHARS = 12
GROUP = 4
# Longest spelling accepted before normalising: the code, its dashes and some spaces.
MAX_INPUT_CHARS = 32


def generate() -> list[str]:
    """Ten new codes, as shown to the user."""
    return [_grouped("".join(secrets.choice(ALPHABET) for _ in range(CHARS))) for _ in range(COUNT)]


def _grouped(code: str) -> str:
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalised(code: str) -> str | None:
    """The code without dashes or spaces, lower case; None when it cannot be a code."""
    if len(code) > MAX_INPUT_CHARS:
        return None
    bare = "".join(code.split()).replace("-", "").lower()
    if len(bare) != CHARS or any(ch not in ALPHABET for ch in bare):
        return None
    return bare


def hash_code(code: str) -> str:
    """SHA-256 (lowercase hex) of a code, as stored; `code` in any spelling."""
    bare = normalised(code)
    if bare is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(bare.encode("ascii")).hexdigest()
