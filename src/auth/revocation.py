"""Revoking a user's credentials at once: their sign-ins on a password change, everything
when the user is deleted."""

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

    def revoke_sign_ins(self, user_id: int, keep: str = "") -> None:
        """Revoke every sign-in (refresh family, session) of `user_id` but the one named `keep`.

        Personal access tokens stay: a password change is not meant to break integrations.
        """
        now = int(self._clock.now())
        for family in self._refresh_tokens.for_user(user_id):
            if family.family_id != keep and not family.revoked:
                self._refresh_tokens.revoke(family.family_id, now)
        self._sessions.revoke_all(user_id, keep=keep, reason="credentials revoked")

    def remove_all(self, user_id: int) -> None:
        """Every credential of a user being deleted, personal access tokens included."""
        self.revoke_sign_ins(user_id)
        self._pats.delete_all(user_id)
