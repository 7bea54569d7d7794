"""Revoking a user's credentials at once: their sign-ins on a password change, everything
when the user is deleted. Each kind is revoked through its own service, which audits it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auth.pats import PersonalAccessTokens
from auth.refresh_tokens import RefreshTokens
from auth.sessions import Sessions

if TYPE_CHECKING:
    from auth.stores.factor_store import FactorStore
    from auth.stores.idp_store import IdpStore
    from auth.stores.passkey_store import PasskeyStore


class CredentialRevocation:
    def __init__(
        self,
        refresh_tokens: RefreshTokens,
        sessions: Sessions,
        pats: PersonalAccessTokens,
        factors: FactorStore | None = None,
        links: IdpStore | None = None,
        passkeys: PasskeyStore | None = None,
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._sessions = sessions
        self._pats = pats
        self._factors = factors
        self._links = links
        self._passkeys = passkeys

    def revoke_sign_ins(self, user_id: int, keep: str = "", reason: str = "credentials revoked") -> None:
        """Revoke every sign-in (refresh family, session) of `user_id` but the one named `keep`.

        Personal access tokens stay: a password change is not meant to break integrations.
        """
        self._refresh_tokens.revoke_all(user_id, keep=keep, reason=reason)
        self._sessions.revoke_all(user_id, keep=keep, reason=reason)

    def remove_all(self, user_id: int) -> None:
        """Every credential of a user being deleted, personal access tokens, second factors
        and linked identities included."""
        self.revoke_sign_ins(user_id, reason="user deleted")
        self._pats.delete_all(user_id)
        if self._factors is not None:
            self._factors.delete_totp(user_id)
        if self._links is not None:
            # Gone before the user: no identity can sign in as a user being deleted.
            self._links.delete_links_of_user(user_id)
        if self._passkeys is not None:
            self._passkeys.delete_all(user_id)
