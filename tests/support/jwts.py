"""Hand-made JWTs for the token tests: the claims a genuine access token carries, and a
way to sign anything with any key and algorithm."""

from __future__ import annotations

import jwt

from auth.tokens import SigningKey

KEY = SigningKey("v1", b"k" * 40)
NOW = 1_800_000_000


def forge(claims: dict, key: bytes = KEY.secret, alg: str = "HS256", headers: dict | None = None) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "v1", **(headers or {})})


def access_claims(**overrides: object) -> dict:
    claims = {
        "type": "access",
        "name": "alice",
        "username": "alice",
        "role": "USER",
        "status": "NORMAL",
        "iss": "memos",
        "sub": "7",
        "aud": ["user.access-token"],
        "iat": NOW,
        "exp": NOW + 900,
        "cutoff": 0,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}
