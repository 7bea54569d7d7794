"""Revoking every credential of a user at once: password change, deletion."""

from __future__ import annotations

from auth.clock import Clock
from auth.sessions import Sessions
from auth.stores.refresh_tokens import RefreshTokenStore


class CredentialRevocation:
    def __init__(self, refresh_tokens: RefreshTokenStore, sessions: Sessions, clock: Clock) -> None:
        self._refresh_tokens = refresh_tokens
        self._sessions = sessions
        self._clock = clock

    def revoke_all(self, user_id: int, keep: str = "") -> None:
        """Revoke every credential of `user_id` but the one whose id is `keep`."""
        now = int(self._clock.now())
        for family in self._refresh_tokens.for_user(user_id):
            if family.family_id != keep and not family.revoked:
                self._refresh_tokens.revoke(family.family_id, now)
        self._sessions.revoke_all(user_id, keep=keep, reason="credentials revoked")
