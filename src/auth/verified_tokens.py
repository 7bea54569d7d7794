"""Access tokens already verified in this container, so a repeat skips the signature and JSON.

Only what the token itself proves is remembered (its claims, under the key that verified
it); whether its user may still use it is asked again on every request (CachedUsers and
`tokens_not_before`, in auth.authenticator), so a hit refuses an archived user or a
revoked token exactly as a first sight does.
"""

from __future__ import annotations

from auth.clock import Clock
from auth.errors import Unauthenticated
from auth.tokens import AccessClaims, SigningKey, SigningKeys, parse_access_token, read_key_id

# Bounds the memory a container spends (a token and its claims are under 1 kB); a full
# cache is dropped and refilled. Only tokens that passed every check enter, so a flood
# of invented tokens can neither grow it nor evict through it.
MAX_VERIFIED_TOKENS = 4096


class VerifiedAccessTokens:
    """Keyed by the whole token string: a dict compares the full key on a hit, so no token
    is ever taken for another that shares its prefix (or its header and payload).

    An entry lasts until min(the token's `exp`, verification + `max_age`), `max_age` being
    the revocation lag; and only while the key ring still hands out the very key object
    that verified it, so a reload of the ring (rotation, or the periodic refresh) drops
    every entry at its next use. `max_age` 0 caches nothing.
    """

    def __init__(self, keys: SigningKeys, clock: Clock, max_age: int) -> None:
        self._keys = keys
        self._clock = clock
        self._max_age = max_age
        self._entries: dict[str, tuple[AccessClaims, SigningKey, float]] = {}

    def claims(self, token: str) -> AccessClaims:
        now = self._clock.now()
        entry = self._entries.get(token)
        if entry is not None:
            claims, key, valid_until = entry
            # verification_key also reloads a ring that is due, before it is compared.
            if now < valid_until and self._keys.verification_key(key.kid) is key:
                return claims
            del self._entries[token]
        return self._verify(token, now)

    def _verify(self, token: str, now: float) -> AccessClaims:
        key = self._keys.verification_key(read_key_id(token))
        if key is None:
            raise Unauthenticated("unknown signing key")
        claims = parse_access_token(token, lambda _kid: key, now)
        valid_until = min(claims.expires_at, now + self._max_age)
        if valid_until > now:
            if len(self._entries) >= MAX_VERIFIED_TOKENS:
                self._entries.clear()
            self._entries[token] = (claims, key, valid_until)
        return claims
