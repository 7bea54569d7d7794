"""Revoking every credential of a user at once: password change, deletion."""

from __future__ import annotations

from auth.clock import Clock
from auth.personal_access_tokens import PersonalAccessTokens
from auth.sessions import Sessions
from auth.stores.refresh_tokens import RefreshTokenStore


class CredentialRevocation:
    def __init__(
        self,
        refresh_tokens: RefreshTokenStore,
        sessions: Sessions,
        pats: PersonalAccessTokens,
        clock: Clock,
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._sessions = sessions
        self._pats = pats
        self._clock = clock

    def revoke_all(self, user_id: int, keep: str = "") -> None:
        """Revoke every sign-in of `user_id` (refresh families, sessions) but the one whose id
        is `keep`. PATs survive: a password change does not break the user's automation."""
        now = int(self._clock.now())
        for family in self._refresh_tokens.for_user(user_id):
            if family.family_id != keep and not family.revoked:
                self._refresh_tokens.revoke(family.family_id, now)
        self._sessions.revoke_all(user_id, keep=keep, reason="credentials revoked")

    def remove_all(self, user_id: int) -> None:
        """Every credential of a user who is being deleted, PATs included. Idempotent, so a
        deletion that failed half-way is finished by simply asking again."""
        self.revoke_all(user_id)
        self._pats.delete_all(user_id)
