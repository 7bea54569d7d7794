"""Issuing access tokens: short-lived, stateless, signed with the current key."""

from __future__ import annotations

from auth.clock import Clock
from auth.keys import DemoKeyRing, KeyRing
from auth.models import User
from auth.tokens import IssuedToken, mint_access_token


class AccessTokens:
    def __init__(self, keys: KeyRing | DemoKeyRing, clock: Clock, ttl: int) -> None:
        self._keys = keys
        self._clock = clock
        self._ttl = ttl

    def issue(self, user: User) -> IssuedToken:
        return mint_access_token(user, self._keys.signing_key(), self._clock.now(), self._ttl)
